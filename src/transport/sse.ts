import type { IncomingMessage, ServerResponse } from 'node:http';
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

const HEADERS_HTTP1 = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-accel-buffering': 'no',
  connection: 'keep-alive',
};
const { connection: _, ...HEADERS_HTTP2 } = HEADERS_HTTP1;

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
  start(request: IncomingMessage, response: ServerResponse, onClose: () => void): Sink {
    const http2 = request.httpVersionMajor === 2;
    response.writeHead(200, http2 ? HEADERS_HTTP2 : HEADERS_HTTP1);
    const socket = request.socket;
    socket.setNoDelay(true);
    // A peer that vanished without a FIN is found by TCP keepalive (and by the heartbeat's write error).
    socket.setKeepAlive(true, Math.max(1000, this.options.heartbeatMs));
    const sink = new SseSink(response);
    this.open.add(sink);
    this.ensureHeartbeat();
    let closed = false;
    const cleanup = (): void => {
      if (closed) return;
      closed = true;
      this.open.delete(sink);
      if (this.open.size === 0) this.stopHeartbeat();
      onClose();
    };
    response.once('close', cleanup);
    // The client may have gone before the route ran: then 'close' has already fired.
    if (socket.destroyed) cleanup();
    return sink;
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

class SseSink implements Sink {
  constructor(private readonly response: ServerResponse) {}

  write(chunk: Buffer): void {
    if (!this.response.writableEnded && !this.response.destroyed) this.response.write(chunk);
  }

  get bufferedBytes(): number {
    return this.response.writableLength;
  }

  drained(): Promise<void> {
    const response = this.response;
    if (response.writableLength === 0 || response.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        response.off('drain', done);
        response.off('close', done);
        resolve();
      };
      response.on('drain', done);
      response.on('close', done);
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
    response.end(encodeEventText({ event: 'disconnect', data }));
  }
}
