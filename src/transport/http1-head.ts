/**
 * The head of a `200` HTTP/1.1 response, rendered as `ServerResponse.writeHead` renders it (the headers
 * in the order given, then `Date`), for a stream whose socket is handed over before Node wrote anything
 * (`http1-socket.ts`): one string the stream's first write carries, instead of Node's header machinery
 * (a validation call and a string concatenation per header, the outgoing message's state) per connection.
 */

/** Response headers as `writeHead` takes them. */
export type HeadHeaders = Readonly<Record<string, string | number | readonly string[]>>;

/** What Node's `checkIsHttpToken` accepts as a header name. */
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
/** What Node's `checkInvalidHeaderChar` refuses in a header value. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

let dateSecond = -1;
let dateText = '';

/** The `Date` header's value, made once a second as Node does. */
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/**
 * Renders the status line, `extra` then `own` headers and `Date`, ending with the blank line. Undefined
 * when a name or value is one Node would refuse: the caller then goes through `writeHead`, which throws
 * Node's own error for it.
 */
export function renderOkHead(own: string, extra: HeadHeaders | undefined): string | undefined {
  let head = 'HTTP/1.1 200 OK\r\n';
  if (extra !== undefined) {
    for (const name in extra) {
      if (!TOKEN.test(name)) return undefined;
      const value = extra[name] as string | number | readonly string[];
      if (typeof value === 'object') {
        for (const item of value) {
          if (INVALID_VALUE.test(item)) return undefined;
          head += `${name}: ${item}\r\n`;
        }
      } else {
        const text = String(value);
        if (INVALID_VALUE.test(text)) return undefined;
        head += `${name}: ${text}\r\n`;
      }
    }
  }
  return `${head}${own}Date: ${httpDate()}\r\n\r\n`;
}

/** Headers known to be valid, rendered once: the `own` argument of `renderOkHead`. */
export function renderHeaderLines(headers: Readonly<Record<string, string>>): string {
  let lines = '';
  for (const name in headers) lines += `${name}: ${headers[name]}\r\n`;
  return lines;
}
