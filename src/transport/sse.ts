import { Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { DisconnectReason } from '../core/disconnect.js';
import type { Greeting, Sink, Subscription } from '../core/subscription.js';
import { encodeEventText, HEARTBEAT, type SseEvent } from '../protocol/sse-frame.js';
import { sseGreeting } from './sse-encoder.js';

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

/** Told once when a stream's connection closes. */
export interface StreamCloseListener {
  /** `subscription` is the sink's (null when the connection closed before it was set). */
  streamClosed(subscription: Subscription | null, onClose: (() => void) | undefined): void;
}

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

  /**
   * Starts an SSE response and returns its sink. When the connection ends, for any reason, `listener` is
   * told once, with the sink's `subscription` and `onClose` (one shared listener, no closure per stream).
   */
  start(
    request: IncomingMessage,
    response: ServerResponse,
    listener: StreamCloseListener,
    onClose?: () => void,
    headers?: Readonly<Record<string, string | number | readonly string[]>>,
  ): SseSink {
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
    const sink = new SseSink(response, http2 ? null : socket, this, listener, onClose);
    this.open.add(sink);
    this.ensureHeartbeat();
    // One shared listener for every stream (no closure or `once` wrapper per connection): the sink is
    // found on the response.
    (response as SinkHolder)[SINK] = sink;
    response.on('close', onStreamClose);
    // The client may have gone before the route ran: then 'close' has already fired.
    if (socket.destroyed) sink.closed();
    return sink;
  }

  /**
   * Destroys every stream detached from its HTTP server: those are no longer in the server's connection
   * list, so the drain's `closeAllConnections` does not reach them and calls this beside it.
   */
  destroyDetached(): void {
    for (const sink of this.open) sink.destroyIfDetached();
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
type SinkHolder = { [SINK]?: SseSink };

/** The one `close` listener of every stream: on its response, then on its socket once detached. */
function onStreamClose(this: SinkHolder): void {
  this[SINK]?.closed();
}

const ignoreError = (): void => {};

/**
 * What Node's HTTP/1.1 server attaches to every connection (lib/_http_server.js,
 * `connectionListenerInternal`), by event and function name. Node 20, 22 and 24 use these names.
 */
const SERVER_LISTENERS: readonly (readonly [event: string, name: string])[] = [
  ['data', 'bound socketOnData'],
  ['end', 'bound socketOnEnd'],
  ['close', 'bound socketOnClose'],
  ['drain', 'bound socketOnDrain'],
  ['error', 'socketOnError'],
  ['timeout', 'socketOnTimeout'],
  ['resume', 'onSocketResume'],
  ['pause', 'onSocketPause'],
];

/** The parts of Node's internal HTTP parser (`socket.parser`) the detach uses; checked before use. */
interface HttpParser {
  incoming: unknown;
  socket: unknown;
  onIncoming: unknown;
  _consumed?: boolean;
  unconsume(): void;
  finish(): unknown;
  remove(): void;
  close(): void;
}

type HttpSocket = Socket & { parser?: HttpParser | null; server?: unknown };

function isParser(value: unknown): value is HttpParser {
  const parser = value as Partial<HttpParser> | null | undefined;
  return (
    typeof parser?.unconsume === 'function' &&
    typeof parser.finish === 'function' &&
    typeof parser.remove === 'function' &&
    typeof parser.close === 'function'
  );
}

function closeParser(parser: HttpParser): void {
  parser.close();
}

/**
 * Hands an HTTP/1.1 socket whose stream has started from Node's HTTP server to the stream alone, as
 * Node does itself for an `upgrade` (lib/_http_server.js, `onParserExecuteCommon`): the server's
 * listeners come off the socket, the parser stops reading it and is released (with its native state and
 * its entry in the server's connection list), and the response lets go of the socket. The response and
 * request are then garbage; an idle stream keeps only its `Socket`.
 *
 * Node has no public call for this, so it uses the parser's methods and the server's listener names:
 * every one is checked first, and when anything differs (another Node version, another request already
 * parsed behind this one, a body still coming) nothing is changed and the stream stays on the response.
 */
function detachFromHttpServer(response: ServerResponse, socket: HttpSocket): boolean {
  const parser = socket.parser;
  const request = response.req;
  if (!isParser(parser) || parser.incoming !== request || !request.complete) return false;
  // Plain `node:http` servers only: HTTP/1.1 over TLS is served by the HTTP/2 server (`allowHTTP1`),
  // which keeps no connection list for the drain to close, so those streams stay on their response.
  if (!(socket.server instanceof HttpServer) || socket.destroyed || !socket.writable) return false;
  const found: [string, (...args: unknown[]) => void][] = [];
  for (const [event, name] of SERVER_LISTENERS) {
    const listener = socket.listeners(event).find((f) => (f as { name?: string }).name === name);
    if (listener === undefined) return false;
    found.push([event, listener as (...args: unknown[]) => void]);
  }
  for (const [event, listener] of found) socket.removeListener(event, listener);
  if (parser._consumed === true) parser.unconsume();
  parser._consumed = false;
  parser.finish();
  // Out of the server's connection list (request timeouts, closeIdle/closeAll).
  parser.remove();
  parser.socket = null;
  parser.incoming = null;
  parser.onIncoming = null;
  // `socket.on` is wrapped by the server while the socket has a parser; with none it reverts to net's.
  socket.parser = null;
  // Deleted once its stack has surely unwound (Node does the same with a parser it does not pool).
  setImmediate(closeParser, parser);
  // A `drained()` still waiting on the response (a replay queued behind another response on a pipelined
  // connection) would never hear from it again: let it go on; the next one waits on the socket.
  if (response.listenerCount('drain') > 0) response.emit('drain');
  response.detachSocket(socket);
  socket.setTimeout(0);
  socket.on('error', ignoreError);
  socket.on('close', onStreamClose);
  // The server's sockets allow half-open; a client's FIN now ends the stream (Node's socketOnEnd did it).
  socket.allowHalfOpen = false;
  // Read on, discarding what comes (nothing is answered after a close-delimited body), to see the FIN.
  socket.resume();
  return true;
}

/**
 * One SSE stream. Over HTTP/1.1 the first write goes through the response (it carries the status line
 * and headers); then, once the socket is this response's alone, the socket is detached from the HTTP
 * server and every later write, the end and the close go straight through it. A response still queued
 * behind another on a pipelined connection has no socket yet and keeps writing through the response, as
 * does a stream whose socket cannot be detached (see `detachFromHttpServer`), and every HTTP/2 stream.
 */
export class SseSink implements Sink {
  /** The subscription this sink writes for, set by its opener; handed to the close listener. */
  subscription: Subscription | null = null;
  /** Until the socket is detached; then null, and the response is garbage. */
  private response: ServerResponse | null;
  /** Set once headers are out and the socket is this response's alone. */
  private direct: Socket | null = null;
  private listener: StreamCloseListener | null;

  constructor(
    response: ServerResponse,
    private readonly socket: Socket | null,
    private readonly transport: SseTransport,
    listener: StreamCloseListener,
    private readonly onClose: (() => void) | undefined,
  ) {
    this.response = response;
    this.listener = listener;
  }

  /** The connection closed: tells the close listener, once. */
  closed(): void {
    const listener = this.listener;
    if (listener === null) return;
    this.listener = null;
    this.transport.forget(this);
    listener.streamClosed(this.subscription, this.onClose);
  }

  write(chunk: Buffer): void {
    const direct = this.direct;
    if (direct !== null) {
      if (!direct.destroyed) direct.write(chunk);
      return;
    }
    const response = this.response as ServerResponse;
    if (response.writableEnded || response.destroyed) return;
    response.write(chunk);
    const socket = this.socket;
    if (socket === null || response.socket !== socket) return;
    this.direct = socket;
    if (detachFromHttpServer(response, socket)) {
      this.response = null;
      (socket as SinkHolder)[SINK] = this;
      (response as SinkHolder)[SINK] = undefined;
    }
  }

  get bufferedBytes(): number {
    return (this.response ?? (this.direct as Socket)).writableLength;
  }

  drained(): Promise<void> {
    const stream: Writable = this.direct ?? (this.response as ServerResponse);
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

  end(reason: DisconnectReason): void {
    const response = this.response;
    if (response === null) {
      const socket = this.direct as Socket;
      if (socket.destroyed) return;
      if (!reason.notify) socket.destroy();
      else if (socket.writable) {
        socket.write(disconnectFrame(reason));
        // A FIN once the frame is out, then the close (as Node does after a `Connection: close` response).
        socket.destroySoon();
      }
      return;
    }
    if (response.writableEnded || response.destroyed) return;
    if (!reason.notify) {
      // Its output is already past the bound: drop it; the client resumes from the last id it received.
      response.destroy();
      return;
    }
    // Through the response when it still owns the socket: a close-delimited body adds no framing, and Node
    // then closes the connection as it does for any response that ends.
    response.end(disconnectFrame(reason));
  }

  /** Drops a detached connection at once (the drain's deadline); one still on its response is the server's. */
  destroyIfDetached(): void {
    if (this.response === null) this.direct?.destroy();
  }
}

function disconnectFrame(reason: DisconnectReason): string {
  return encodeEventText({
    event: 'disconnect',
    data: JSON.stringify({ reason: reason.code, reconnect: reason.reconnect }),
  });
}
