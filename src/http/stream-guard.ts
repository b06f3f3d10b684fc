import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ExpiryWheel } from '../auth/expiry-wheel.js';
import type { Subscription } from '../core/subscription.js';
import type { PollResponse } from '../protocol/wire.js';
import type { LongPoll } from '../transport/long-poll.js';
import type { StreamOpener, StreamRequest } from '../transport/streams.js';
import type { Subscriber } from './identity.js';
import type { ConnectionLimits } from './limits.js';

/** Fastify's per-response listener (`setupResponseListeners` in fastify/lib/reply.js), matched by name. */
const FRAMEWORK_LISTENER = 'onResFinished';
const ignoreError = (): void => {};

function releaseFrameworkListeners(response: ServerResponse): void {
  for (const event of ['finish', 'error'] as const) {
    for (const listener of response.listeners(event)) {
      if ((listener as { name?: string }).name === FRAMEWORK_LISTENER) {
        response.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
  // An 'error' event without a listener would throw; one shared no-op keeps that as before.
  if (response.listenerCount('error') === 0) response.on('error', ignoreError);
}

/**
 * Opens authenticated streams under the connection limits, and ends each when its token expires.
 * Shared by every route that opens a stream, so no door skips a limit.
 */
export class StreamGuard {
  constructor(
    private readonly streams: StreamOpener,
    private readonly limits: ConnectionLimits,
    /** Ends a subscription whose token expired (the hub's `end` with `Disconnect.tokenExpired`). */
    private readonly expiry: ExpiryWheel<Subscription>,
    /** Long-polling; each session takes a connection slot for its whole life, like a stream. */
    private readonly polls?: LongPoll,
  ) {}

  /** Takes a connection slot (or throws 429/503), hijacks the reply and starts the stream. */
  open(
    request: FastifyRequest,
    reply: FastifyReply,
    subscriber: Subscriber,
    stream: Omit<StreamRequest, 'userId' | 'groups'>,
  ): Subscription {
    const limits = this.limits;
    const ip = request.ip;
    const userId = subscriber.userId;
    limits.take(ip, userId);
    reply.hijack();
    // Headers set by hooks (CORS, request id) live on the reply; a hijacked response must carry them
    // itself. They go to `writeHead` with the stream's own rather than through `setHeader`, which would
    // keep a header table (an object and an array per header) on the response for its whole life.
    const headers: Record<string, string | number | readonly string[]> = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) headers[name] = value;
    }
    // Fastify keeps a finish/error listener on the response that retains its request, reply and child
    // logger until the response ends; a hijacked stream needs none of it (no onResponse hook applies to a
    // stream, and request logging is off), so an idle connection does not hold them for its lifetime.
    releaseFrameworkListeners(reply.raw);
    // One closure per stream for everything its close undoes (the slot, the expiry watch, the log line).
    let released = false;
    let unwatch: (() => void) | undefined;
    let logClose: (() => void) | undefined;
    const onClose = (): void => {
      if (released) return;
      released = true;
      limits.release(ip, userId);
      unwatch?.();
      logClose?.();
    };
    const sub = this.streams.open(request.raw, reply.raw, {
      ...stream,
      userId,
      groups: subscriber.groups,
      headers,
      onClose,
      // Behind a trusted proxy, the client's address (as the limits count it), not the proxy's.
      remoteAddress: ip,
    });
    // One line per connection opened and closed, at debug level; never one per message. The child logger
    // (and the closure holding it) only exists when debug is on: an idle stream retains nothing for it.
    // The close is the stream's own (its socket may no longer belong to the response, see `sse.ts`).
    if (request.log.level === 'debug' || request.log.level === 'trace') {
      const log = request.log.child({ connection: sub.id, user: sub.userId });
      log.debug({ transport: sub.info.transport, remote: sub.info.remoteAddress }, 'stream opened');
      const openedAt = sub.openedAt;
      logClose = () => log.debug({ durationMs: Date.now() - openedAt }, 'stream closed');
    }
    const gone = request.raw.socket.destroyed || reply.raw.destroyed;
    if (gone) onClose();
    else if (subscriber.expiresAt !== undefined && !sub.closed) {
      unwatch = this.expiry.add(sub, subscriber.expiresAt);
    }
    return sub;
  }

  /**
   * Answers one long-poll. A poll that starts a session takes a connection slot (or throws 429/503) that
   * the session holds until it ends, like a stream; each poll watches its own token's expiry.
   */
  poll(
    request: FastifyRequest,
    reply: FastifyReply,
    subscriber: Subscriber,
    lastEventId: string | undefined,
    session: string | undefined,
  ): Promise<PollResponse> {
    if (this.polls === undefined) throw new Error('long-polling is not configured');
    const limits = this.limits;
    const ip = request.ip;
    const userId = subscriber.userId;
    const expiresAt = subscriber.expiresAt;
    const expiry = this.expiry;
    const closed = new Promise<void>((resolve) => reply.raw.once('close', resolve));
    return this.polls.poll(
      {
        userId,
        groups: subscriber.groups,
        lastEventId,
        session,
        info: { transport: 'poll', remoteAddress: ip },
        admit: () => limits.acquire(ip, userId),
        watch: expiresAt === undefined ? undefined : (sub) => expiry.add(sub, expiresAt),
      },
      closed,
    );
  }
}
