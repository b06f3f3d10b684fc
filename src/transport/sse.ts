import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { DisconnectReason } from '../core/disconnect.js';
import type { Greeting, Sink, Subscription } from '../core/subscription.js';
import { HEARTBEAT, type SseEvent } from '../protocol/sse-frame.js';
import { renderHeaderLines, renderOkHead } from './http1-head.js';
import { closeDelimited, takeSocket } from './http1-socket.js';
import { disconnectFrame, sseGreeting } from './sse-encoder.js';

/** Options of the SSE transport. */
export interface SseOptions {
  /** `retry:` hint sent on open, in milliseconds. */
  readonly retryMs: number;
  /** Interval of the comment heartbeat, in milliseconds (0 disables it). */
  readonly heartbeatMs: number;
}

/** The headers of every SSE stream (with the hijacked reply's own: CORS, request id). */
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
const HEAD_HTTP1 = renderHeaderLines(HEADERS_HTTP1);

/**
 * How long a stream without heartbeat stays silent before TCP keepalive probes it. It was one second
 * (`max(1000, heartbeat)`): each idle stream was probed every second, 10 000 probes a second for 10 000.
 */
const KEEPALIVE_IDLE_MS = 30_000;

/** Told once when a stream's connection closes. */
export interface StreamCloseListener {
  streamClosed(sink: SseSink): void;
}

/** How one stream starts, beyond its request and response. */
export interface StreamStart {
  /** Response headers beyond the stream's own (CORS, request id). */
  readonly headers?: Readonly<Record<string, string | number | readonly string[]>> | undefined;
  /** Kept on the sink for the close listener (the stream opener's per-stream callback). */
  readonly onClose?: (() => void) | undefined;
}

/**
 * SSE over Node's HTTP servers: writes the head, frames and heartbeats, and reports the close. One
 * heartbeat timer serves every connection. Every stream of the node goes through it: the native
 * `/events`, the protocol adapters' and the admin dashboard's.
 */
export class SseTransport {
  private readonly open = new Set<SseSink>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly options: SseOptions) {}

  /**
   * Starts an SSE response and returns its sink. When the connection ends, for any reason, `listener` is
   * told once, with the sink (one shared listener, no closure per stream).
   *
   * An HTTP/1.1 stream whose socket is its response's alone is handed over from the HTTP server at once
   * (`http1-socket.ts`) and written through its bare socket (`SocketSink`); every other stream — HTTP/2,
   * a response queued behind another on a pipelined connection, HTTP/1.1 over TLS — writes through its
   * response (`ResponseSink`).
   */
  start(
    request: IncomingMessage,
    response: ServerResponse,
    listener: StreamCloseListener,
    start: StreamStart = {},
  ): SseSink {
    const http2 = request.httpVersionMajor === 2;
    const socket = request.socket;
    socket.setNoDelay(true);
    // A peer that vanished without a FIN: with the heartbeat on, its unacknowledged bytes time out (a
    // socket with data in flight sends no keepalive probes, so keepalive would only cost four system
    // calls per connection); with it off, TCP keepalive finds it.
    if (this.options.heartbeatMs <= 0) socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    // HTTP/1.1 handed over at once: the head is ours to write, rendered once into the socket's first write.
    const head = http2 ? undefined : renderOkHead(HEAD_HTTP1, start.headers);
    const detached = head === undefined ? null : takeSocket(response, head);
    if (detached === null) {
      if (!http2) closeDelimited(response);
      const own = http2 ? HEADERS_HTTP2 : HEADERS_HTTP1;
      // All headers in one `writeHead` object: Node then renders them without keeping a header table.
      response.writeHead(200, start.headers === undefined ? own : { ...start.headers, ...own });
    }
    // One shared close listener for every stream (no closure or `once` wrapper per connection): the sink
    // is found on what emits the close.
    const sink =
      detached === null
        ? new ResponseSink(response, this, listener, start.onClose)
        : new SocketSink(detached, this, listener, start.onClose);
    if (detached === null) {
      (response as SinkHolder)[SINK] = sink;
      response.on('close', onStreamClose);
    } else {
      (detached as SinkHolder)[SINK] = sink;
      detached.on('close', onStreamClose);
    }
    this.open.add(sink);
    this.ensureHeartbeat();
    // The client may have gone before the route ran: then 'close' has already fired.
    if (socket.destroyed) sink.closed();
    return sink;
  }

  /**
   * Destroys every stream handed over from its HTTP server: those are no longer in the server's
   * connection list, so the drain's `closeAllConnections` does not reach them and calls this beside it.
   */
  destroyDetached(): void {
    for (const sink of this.open) if (sink instanceof SocketSink) sink.destroy();
  }

  /** Called once by a sink whose connection closed. */
  forget(sink: SseSink): void {
    this.open.delete(sink);
    if (this.open.size === 0) this.stopHeartbeat();
  }

  /** The first bytes of a stream: the `retry:` hint, a `connected` event, then any adapter-specific events. */
  greeting(connectionId: string, extra: readonly Omit<SseEvent, 'id'>[] = []): Greeting {
    return sseGreeting(this.options.retryMs, connectionId, extra);
  }

  /** Stops the heartbeat; connections are ended by the hub (and the admin feed). */
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
type SinkHolder = { [SINK]?: SseSink };

/** The one `close` listener of every stream: on its socket once handed over, else on its response. */
function onStreamClose(this: SinkHolder): void {
  this[SINK]?.closed();
}

/** Resolves once `stream` drained below its high-water mark, or closed. */
function drainedOf(stream: Writable): Promise<void> {
  // `drain` follows only a write that reached the high-water mark: below it, it never comes (and there is
  // nothing to wait for). Read off the length: HTTP/2 responses have no `writableNeedDrain`.
  if (stream.writableLength < stream.writableHighWaterMark || stream.destroyed) return Promise.resolve();
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

/**
 * One SSE stream: what the hub (or the admin feed) writes frames to. The two kinds differ only in what
 * they write to; the close is common.
 */
export abstract class SseSink implements Sink {
  /** The subscription this sink writes for, set by its opener (null for the admin feed's streams). */
  subscription: Subscription | null = null;
  private listener: StreamCloseListener | null;

  constructor(
    private readonly transport: SseTransport,
    listener: StreamCloseListener,
    /** The opener's per-stream callback, run by the close listener. */
    readonly onClose: (() => void) | undefined,
  ) {
    this.listener = listener;
  }

  /** The connection closed: tells the close listener, once. */
  closed(): void {
    const listener = this.listener;
    if (listener === null) return;
    this.listener = null;
    this.transport.forget(this);
    listener.streamClosed(this);
  }

  abstract write(chunk: Buffer): void;
  abstract get bufferedBytes(): number;
  abstract drained(): Promise<void>;
  abstract end(reason: DisconnectReason): void;
}

/**
 * A stream written through its response: HTTP/2 streams, and HTTP/1.1 streams whose socket could not be
 * handed over. The response's close is the stream's.
 */
export class ResponseSink extends SseSink {
  constructor(
    private readonly response: ServerResponse,
    transport: SseTransport,
    listener: StreamCloseListener,
    onClose: (() => void) | undefined,
  ) {
    super(transport, listener, onClose);
  }

  write(chunk: Buffer): void {
    const response = this.response;
    if (!response.writableEnded && !response.destroyed) response.write(chunk);
  }

  get bufferedBytes(): number {
    return this.response.writableLength;
  }

  drained(): Promise<void> {
    return drainedOf(this.response);
  }

  end(reason: DisconnectReason): void {
    const response = this.response;
    if (response.writableEnded || response.destroyed) return;
    // Its output is already past the bound: drop it; the client resumes from the last id it received.
    if (!reason.notify) response.destroy();
    // A close-delimited body adds no framing; Node then closes the connection as for any response.
    else response.end(disconnectFrame(reason));
  }
}

/**
 * An HTTP/1.1 stream written straight to its bare socket, handed over from the HTTP server at start
 * (`http1-socket.ts`): frames are `socket.write`s, the end is the `disconnect` frame then a FIN, and the
 * socket's close is the stream's. The socket comes corked with the response head in it, so the head
 * leaves with the first frame in one packet.
 */
export class SocketSink extends SseSink {
  constructor(
    private readonly socket: Socket,
    transport: SseTransport,
    listener: StreamCloseListener,
    onClose: (() => void) | undefined,
  ) {
    super(transport, listener, onClose);
  }

  write(chunk: Buffer): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    socket.write(chunk);
    if (socket.writableCorked !== 0) socket.uncork();
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  drained(): Promise<void> {
    return drainedOf(this.socket);
  }

  end(reason: DisconnectReason): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    if (!reason.notify) socket.destroy();
    else if (socket.writable) {
      socket.write(disconnectFrame(reason));
      // A FIN once the frame is out (uncorking what waits), then the close, as Node does after a
      // `Connection: close` response.
      socket.destroySoon();
    }
  }

  /** Drops the connection at once (the drain's deadline). */
  destroy(): void {
    this.socket.destroy();
  }
}
