import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';

/** Herald's answer to one request. */
export interface Answer {
  readonly status: number;
  readonly body: string;
  /** The `Retry-After` header, in seconds, when there was one. */
  readonly retryAfter: number | undefined;
}

/** Why a request got no answer; `unsent` when it certainly never reached the server (a stale socket). */
export class NoAnswer extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
    readonly unsent: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Sends `POST /messages` bodies over kept-alive connections. */
export interface Transport {
  post(body: string): Promise<Answer>;
  /** Closes the idle connections; requests in flight finish first. */
  close(): Promise<void>;
}

/** What both transports are made from. */
export interface TransportOptions {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly connections: number;
  /** Extra CA certificates for `https:` (a self-signed Herald). */
  readonly ca: string | Buffer | undefined;
}

const messagesPath = (url: URL): string => `${url.pathname.replace(/\/$/, '')}/messages`;

const retryAfterOf = (value: string | string[] | undefined): number | undefined => {
  const seconds = Number(Array.isArray(value) ? value[0] : value);
  return value === undefined || !Number.isFinite(seconds) ? undefined : seconds;
};

/** Settles a promise once: a later error, end or timeout of the same request is ignored. */
function settleOnce(resolve: (answer: Answer) => void, reject: (error: NoAnswer) => void) {
  let settled = false;
  return {
    answer(answer: Answer): void {
      if (settled) return;
      settled = true;
      resolve(answer);
    },
    fail(error: NoAnswer): void {
      if (settled) return;
      settled = true;
      reject(error);
    },
  };
}

/** HTTP/1.1 through one keep-alive `Agent`: a request per connection at a time, `connections` at most. */
export function http1Transport(options: TransportOptions): Transport {
  const secure = options.url.protocol === 'https:';
  const agentOptions = { keepAlive: true, maxSockets: options.connections, scheduling: 'lifo' as const };
  const agent = secure ? new https.Agent({ ...agentOptions, ca: options.ca }) : new http.Agent(agentOptions);
  const send = secure ? https.request : http.request;
  const path = messagesPath(options.url);
  return {
    post(body) {
      return new Promise((resolve, reject) => {
        const once = settleOnce(resolve, reject);
        const request = send({
          agent,
          method: 'POST',
          host: options.url.hostname,
          port: options.url.port,
          path,
          headers: { ...options.headers, 'content-length': Buffer.byteLength(body) },
        });
        let answered = false;
        request.setTimeout(options.timeoutMs, () => {
          once.fail(new NoAnswer(`no answer within ${options.timeoutMs} ms`, true, false));
          request.destroy();
        });
        request.once('error', (error: NodeJS.ErrnoException) => {
          // A kept-alive socket the server had closed: reset before any byte came back, never processed.
          const unsent = request.reusedSocket && !answered && error.code === 'ECONNRESET';
          once.fail(new NoAnswer(error.message, false, unsent, { cause: error }));
        });
        request.once('response', (response) => {
          answered = true;
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
          });
          response.once('error', (error) =>
            once.fail(new NoAnswer(error.message, false, false, { cause: error })),
          );
          response.once('close', () => {
            if (!response.complete) once.fail(new NoAnswer('the answer was cut short', false, false));
          });
          response.once('end', () =>
            once.answer({
              status: response.statusCode ?? 0,
              body: text,
              retryAfter: retryAfterOf(response.headers['retry-after']),
            }),
          );
        });
        request.end(body);
      });
    },
    async close() {
      agent.destroy();
    },
  };
}

/**
 * HTTP/2 on one session (h2c with prior knowledge on `http:`, h2 by ALPN on `https:`); a session that
 * closes or fails is replaced on the next request. The session keeps the process alive only while a
 * request is in flight.
 */
export function http2Transport(options: TransportOptions): Transport {
  const path = messagesPath(options.url);
  let session: http2.ClientHttp2Session | undefined;
  let inFlight = 0;
  const current = (): http2.ClientHttp2Session => {
    if (session !== undefined && !session.closed && !session.destroyed) return session;
    const opened = http2.connect(options.url.origin, options.ca === undefined ? {} : { ca: options.ca });
    const forget = (): void => {
      if (session === opened) session = undefined;
    };
    opened.on('error', forget);
    opened.on('close', forget);
    opened.on('goaway', forget);
    session = opened;
    return opened;
  };
  return {
    post(body) {
      return new Promise((resolve, reject) => {
        const s = current();
        inFlight++;
        s.ref();
        const once = settleOnce(
          (answer) => {
            release();
            resolve(answer);
          },
          (error) => {
            release();
            reject(error);
          },
        );
        function release(): void {
          if (--inFlight === 0 && !s.destroyed) s.unref();
        }
        const stream = s.request({
          ':method': 'POST',
          ':path': path,
          ...options.headers,
          'content-length': String(Buffer.byteLength(body)),
        });
        let status = 0;
        let retryAfter: number | undefined;
        let text = '';
        stream.setTimeout(options.timeoutMs, () => {
          once.fail(new NoAnswer(`no answer within ${options.timeoutMs} ms`, true, false));
          stream.close(http2.constants.NGHTTP2_CANCEL);
        });
        stream.once('response', (headers) => {
          status = Number(headers[':status']);
          retryAfter = retryAfterOf(headers['retry-after']);
        });
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          text += chunk;
        });
        stream.once('end', () => once.answer({ status, body: text, retryAfter }));
        stream.once('error', (error: Error) => {
          // REFUSED_STREAM: the server did not process the stream (RFC 9113, section 8.7).
          const unsent = stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
          once.fail(new NoAnswer(error.message, false, unsent, { cause: error }));
        });
        stream.once('close', () => {
          const unsent = stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
          once.fail(new NoAnswer('the stream closed without an answer', false, unsent));
        });
        stream.end(body);
      });
    },
    async close() {
      const s = session;
      session = undefined;
      if (s === undefined || s.destroyed) return;
      await new Promise<void>((resolve) => s.close(resolve));
    },
  };
}
