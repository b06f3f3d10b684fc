/**
 * SSE framing (WHATWG HTML, "Server-sent events", §9.2). The one place that turns fields into bytes.
 *
 * Callers must pass ids and event names already validated by `grammar.ts` (no CR, LF or NUL):
 * this module splits data on every line terminator the parser recognises, so data can never
 * inject a field, but it does not re-check the single-line fields on the hot path.
 */

/** The fields of one SSE event. */
export interface SseEvent {
  /** `id:` field; sets the client's Last-Event-ID. */
  id?: string | undefined;
  /** `event:` field; the client dispatches on it (default `message`). */
  event?: string | undefined;
  /** Event data; any text. Each line becomes one `data:` line. */
  data: string;
  /** A comment line inside the event, before its data (Herald's annotation, see `wire.ts`); single line. */
  comment?: string | undefined;
}

const LINE_BREAK = /\r\n|\r|\n/;

/** Encodes one event as text: `id`, `event`, then one `data:` line per line of data, then a blank line. */
export function encodeEventText(event: SseEvent): string {
  let out = '';
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  if (event.comment !== undefined) out += `: ${event.comment}\n`;
  const data = event.data;
  // Fast path: single-line data is by far the common case.
  if (data.indexOf('\n') === -1 && data.indexOf('\r') === -1) {
    out += `data: ${data}\n\n`;
    return out;
  }
  for (const line of data.split(LINE_BREAK)) out += `data: ${line}\n`;
  return `${out}\n`;
}

/** Encodes one event as UTF-8 bytes, ready to be written to any number of connections. */
export function encodeEvent(event: SseEvent): Buffer {
  return Buffer.from(encodeEventText(event), 'utf8');
}

/** `retry:` hint: how long a client waits before reconnecting, in milliseconds. */
export function encodeRetry(milliseconds: number): string {
  return `retry: ${Math.max(0, Math.floor(milliseconds))}\n\n`;
}

/**
 * A comment line. Clients ignore it; it keeps idle connections alive through proxies.
 * Padding the first comment makes some buffering proxies flush their first block.
 */
export function encodeComment(text = ''): string {
  return text === '' ? ':\n\n' : `: ${text.replace(/[\r\n]/g, ' ')}\n\n`;
}

/** The heartbeat written to every idle connection: one shared buffer. */
export const HEARTBEAT: Buffer = Buffer.from(encodeComment());
