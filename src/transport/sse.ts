import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { DisconnectReason } from '../core/disconnect.js';
import type { Greeting } from '../core/hub.js';
import type { Sink } from '../core/subscription.js';
import { encodeEventText, encodeRetry, HEARTBEAT, type SseEvent } from '../protocol/sse-frame.js';

/** Options of the SSE transport. */
export interface SseOptions {
  /** `retry:` hint sent on open, in milliseconds. */
  readonly retryMs: number;
  /** Interval of the comment heartbeat, in milliseconds (0 disables it). */
  readonly heartbeatMs: number;
}

const HEADERS_HTTP2 = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-accel-buffering': 'no',
};
/**
 * HTTP/1.1 streams are delimited by the connection's close rather than chunked: frames then go to the
 * socket as they are, one `write` each, instead of a chunk-size line, the frame and a CRLF per write
 * (a `writev` of three buffers through `ServerResponse`, which was most of the server's time).
 * A stream ends only when the connection does, so keep-alive buys nothing here.
 */
const HEADERS_HTTP1 = { ...HEADERS_HTTP2, connection: 'close' };

/**
 * SSE over a Node `ServerResponse`: writes headers, frames and heartbeats, and reports the close.
 * One heartbeat timer serves every connection.
 */
export class SseTransport {
  private readonly open = new Set<SseSink>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly options: SseOptions) {}

  /** Number of open SSE connections (for tests and metrics). */
  get size(): number {
    return this.open.size;
  }

  /** Starts an SSE response and returns its sink; `onClose` runs once when the connection ends for any reason. */
  start(
    request: IncomingMessage,
    response: ServerResponse,
    onClose: () => void,
    headers?: Readonly<Record<string, string | number | readonly string[]>>,
  ): Sink {
    const http2 = request.httpVersionMajor === 2;
    if (!http2) {
      // Removing both length headers is Node's documented way to a close-delimited body (no chunking).
      response.removeHeader('transfer-encoding');
      response.removeHeader('content-length');
    }
    const own = http2 ? HEADERS_HTTP2 : HEADERS_HTTP1;
    // All headers in one `writeHead` object: Node then renders them without keeping a header table.
    response.writeHead(200, headers === undefined ? own : { ...headers, ...own });
    const socket = request.socket;
    socket.setNoDelay(true);
    // A peer that vanished without a FIN is found by TCP keepalive (and by the heartbeat's write error).
    socket.setKeepAlive(true, Math.max(1000, this.options.heartbeatMs));
    const sink = new SseSink(response, http2 ? null : socket, this, onClose);
    this.open.add(sink);
    this.ensureHeartbeat();
    // One shared listener for every stream (no closure or `once` wrapper per connection): the sink is
    // found on the response.
    (response as SinkHolder)[SINK] = sink;
    response.on('close', onResponseClose);
    // The client may have gone before the route ran: then 'close' has already fired.
    if (socket.destroyed) sink.closed();
    return sink;
  }

  /** Called once by a sink whose connection closed. */
  forget(sink: SseSink): void {
    this.open.delete(sink);
    if (this.open.size === 0) this.stopHeartbeat();
  }

  /** The first bytes of a stream: the `retry:` hint, a `connected` event, then any adapter-specific events. */
  greeting(connectionId: string, extra: readonly Omit<SseEvent, 'id'>[] = []): Greeting {
    const retry = encodeRetry(this.options.retryMs);
    return (resumeId) => {
      let text = retry;
      text += encodeEventText({ id: resumeId, event: 'connected', data: JSON.stringify({ connectionId }) });
      for (const event of extra) text += encodeEventText({ ...event, id: resumeId });
      return Buffer.from(text, 'utf8');
    };
  }

  /** Stops the heartbeat; connections are ended by the hub. */
  close(): void {
    this.stopHeartbeat();
  }

  private ensureHeartbeat(): void {
    if (this.heartbeat !== null || this.options.heartbeatMs <= 0) return;
    this.heartbeat = setInterval(() => {
      for (const sink of this.open) sink.write(HEARTBEAT);
    }, this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat === null) return;
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

const SINK = Symbol('herald.sseSink');
type SinkHolder = ServerResponse & { [SINK]?: SseSink };

function onResponseClose(this: ServerResponse): void {
  (this as SinkHolder)[SINK]?.closed();
}

/**
 * One SSE stream. Over HTTP/1.1 the first write goes through the response (it carries the status line
 * and headers); every later one goes straight to the socket. A response still queued behind another on a
 * pipelined connection has no socket yet and keeps writing through the response; so does HTTP/2.
 */
class SseSink implements Sink {
  /** Set once headers are out and the socket is this response's alone. */
  private direct: Socket | null = null;

  private onClose: (() => void) | null;

  constructor(
    private readonly response: ServerResponse,
    private readonly socket: Socket | null,
    private readonly transport: SseTransport,
    onClose: () => void,
  ) {
    this.onClose = onClose;
  }

  /** The connection closed: runs the close callback once. */
  closed(): void {
    const onClose = this.onClose;
    if (onClose === null) return;
    this.onClose = null;
    this.transport.forget(this);
    onClose();
  }

  write(chunk: Buffer): void {
    const direct = this.direct;
    if (direct !== null) {
      if (!direct.destroyed) direct.write(chunk);
      return;
    }
    const response = this.response;
    if (response.writableEnded || response.destroyed) return;
    response.write(chunk);
    if (this.socket !== null && response.socket === this.socket) this.direct = this.socket;
  }

  get bufferedBytes(): number {
    return this.response.writableLength;
  }

  drained(): Promise<void> {
    const stream: Writable = this.direct ?? this.response;
    if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
    });
  }

  end(reason: DisconnectReason): void {
    const response = this.response;
    if (response.writableEnded || response.destroyed) return;
    if (!reason.notify) {
      // Its output is already past the bound: drop it; the client resumes from the last id it received.
      response.destroy();
      return;
    }
    const data = JSON.stringify({ reason: reason.code, reconnect: reason.reconnect });
    // Through the response even in direct mode: a close-delimited body adds no framing, and Node then
    // closes the connection as it does for any response that ends.
    response.end(encodeEventText({ event: 'disconnect', data }));
  }
}
