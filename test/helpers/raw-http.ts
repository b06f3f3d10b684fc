import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import net from 'node:net';

/** One response as it came off the socket. */
export interface RawResponse {
  readonly status: number;
  /** Header names lowercased. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * A raw HTTP/1.1 request: `Content-Length` by default, or `Transfer-Encoding: chunked`, which the
 * `POST /messages` fast path leaves to Fastify — so one body sent both ways compares the two paths.
 */
export function rawPost(
  path: string,
  body: string,
  options: { headers?: Record<string, string>; chunked?: boolean } = {},
): string {
  const headers = { host: 'test', 'content-type': 'application/json', ...options.headers };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  const length = Buffer.byteLength(body);
  if (options.chunked !== true)
    return `POST ${path} HTTP/1.1\r\n${head.join('')}content-length: ${length}\r\n\r\n${body}`;
  const chunk = length === 0 ? '' : `${length.toString(16)}\r\n${body}\r\n`;
  return `POST ${path} HTTP/1.1\r\n${head.join('')}transfer-encoding: chunked\r\n\r\n${chunk}0\r\n\r\n`;
}

/** A client connection that writes raw bytes and parses the responses as they come, in order. */
export interface RawConnection {
  write(text: string): void;
  /** Resolves with the first `count` responses, or all there are once the server closes the connection. */
  responses(count: number): Promise<RawResponse[]>;
  close(): void;
}

/** Opens a keep-alive connection to the server of `url`. */
export function connectRaw(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  const received: RawResponse[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  let pending = Buffer.alloc(0);
  const notify = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  socket.on('close', () => {
    closed = true;
    notify();
  });
  socket.on('data', (data: Buffer) => {
    pending = Buffer.concat([pending, data]);
    for (;;) {
      const end = pending.indexOf('\r\n\r\n');
      if (end === -1) break;
      const [statusLine, ...lines] = pending.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const bodyEnd = end + 4 + Number(headers['content-length'] ?? 0);
      if (pending.length < bodyEnd) break;
      const body = pending.subarray(end + 4, bodyEnd).toString();
      received.push({ status: Number(statusLine?.split(' ')[1]), headers, body });
      pending = pending.subarray(bodyEnd);
    }
    notify();
  });
  const connection: RawConnection = {
    write: (text) => socket.write(text),
    responses: (count) =>
      new Promise((resolve) => {
        const check = (): void => {
          if (received.length < count && !closed) return;
          waiters.delete(check);
          resolve(received.slice(0, count));
        };
        waiters.add(check);
        check();
      }),
    close: () => socket.destroy(),
  };
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => resolve(connection));
  });
}

/**
 * Writes `requests` on one new keep-alive connection in a single write (pipelined) and resolves with the
 * responses in the order they arrived, once `requests.length` have, or the server closed the connection.
 */
export async function exchange(url: string, requests: readonly string[]): Promise<RawResponse[]> {
  const connection = await connectRaw(url);
  connection.write(requests.join(''));
  const responses = await connection.responses(requests.length);
  connection.close();
  return responses;
}

/** Sends one request on its own connection. */
export async function exchangeOne(url: string, request: string): Promise<RawResponse> {
  const [response] = await exchange(url, [request]);
  if (response === undefined) throw new Error('the server closed the connection without answering');
  return response;
}

/**
 * Counts the requests Fastify's route handlers run for, through its documented diagnostics channel:
 * what the fast path serves never gets there.
 */
export function countFastifyHandlers(): { readonly count: () => number; readonly stop: () => void } {
  const name = 'tracing:fastify.request.handler:start';
  let count = 0;
  const listener = (): void => {
    count++;
  };
  subscribe(name, listener);
  return { count: () => count, stop: () => unsubscribe(name, listener) };
}
