import http from 'node:http';
import https from 'node:https';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** One parsed SSE event, as a WHATWG parser reports it. */
export interface ReceivedEvent {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

/** A raw SSE connection over `node:http`, parsed by `eventsource-parser`: sees every field, comment and retry. */
export interface SseConnection {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly events: ReceivedEvent[];
  readonly comments: string[];
  readonly retries: number[];
  /** Raw bytes received so far. */
  readonly raw: () => string;
  /** Resolves when at least `count` events matching `filter` have arrived; rejects after `timeoutMs`. */
  waitFor(
    count: number,
    filter?: (e: ReceivedEvent) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedEvent[]>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  /** The last id received (what a client would send as Last-Event-ID). */
  lastEventId(): string | undefined;
  /** Destroys the connection from the client side. */
  close(): void;
  readonly request: http.ClientRequest;
  readonly response: http.IncomingMessage;
}

/** How a stream connects: over `https:` the CA to trust; the local address to connect from. */
export interface SseOptions {
  readonly ca?: Buffer;
  readonly localAddress?: string;
}

/** Opens an SSE stream (`http:` or `https:`); resolves once the response headers arrived. */
export function openSse(
  url: string,
  headers: Record<string, string> = {},
  options: SseOptions = {},
): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? https : http).get(url, {
      headers: { accept: 'text/event-stream', ...headers },
      agent: false,
      ...options,
    });
    request.once('error', reject);
    request.once('response', (response) => {
      const events: ReceivedEvent[] = [];
      const comments: string[] = [];
      const retries: number[] = [];
      const waiters = new Set<() => void>();
      let raw = '';
      let lastId: string | undefined = headers['last-event-id'];
      const notify = (): void => {
        for (const waiter of [...waiters]) waiter();
      };
      const parser = createParser({
        onEvent(message: EventSourceMessage) {
          if (message.id !== undefined) lastId = message.id;
          events.push({ id: message.id, event: message.event ?? 'message', data: message.data });
          notify();
        },
        onComment(comment) {
          comments.push(comment);
          notify();
        },
        onRetry(retry) {
          retries.push(retry);
        },
      });
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        raw += chunk;
        parser.feed(chunk);
      });
      const ended = new Promise<void>((done) => {
        response.once('close', () => {
          done();
          notify();
        });
      });
      request.removeListener('error', reject);
      request.on('error', () => {});
      let isEnded = false;
      void ended.then(() => {
        isEnded = true;
      });
      resolve({
        status: response.statusCode ?? 0,
        headers: response.headers,
        events,
        comments,
        retries,
        raw: () => raw,
        ended,
        request,
        response,
        lastEventId: () => lastId,
        close: () => request.destroy(),
        waitFor(count, filter = () => true, timeoutMs = 5000) {
          return new Promise((done, fail) => {
            const check = (): void => {
              const matched = events.filter(filter);
              if (matched.length >= count) {
                cleanup();
                done(matched);
              } else if (isEnded) {
                cleanup();
                fail(
                  new Error(`stream ended with ${matched.length}/${count} events: ${JSON.stringify(events)}`),
                );
              }
            };
            const timer = setTimeout(() => {
              cleanup();
              fail(
                new Error(
                  `timed out with ${events.filter(filter).length}/${count} events: ${JSON.stringify(events)}`,
                ),
              );
            }, timeoutMs);
            const cleanup = (): void => {
              clearTimeout(timer);
              waiters.delete(check);
            };
            waiters.add(check);
            check();
          });
        },
      });
    });
  });
}

/** Only application messages (not Herald's control events). */
export const isMessage = (e: ReceivedEvent): boolean =>
  !['connected', 'gap', 'disconnect', 'inbox', 'groups'].includes(e.event);
