import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ExpiryWheel } from '../auth/expiry-wheel.js';
import type { Subscription } from '../core/subscription.js';
import type { PollResponse } from '../protocol/wire.js';
import type { LongPoll } from '../transport/long-poll.js';
import type { StreamOpener, StreamRequest } from '../transport/streams.js';
import { hijackForStream } from './hijack.js';
import type { Subscriber } from './identity.js';
import type { ConnectionLimits } from './limits.js';

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
    private readonly polls: LongPoll,
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
    const headers = hijackForStream(reply);
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
      stream.onClose?.();
    };
    const sub = this.streams.open(request.raw, reply.raw, {
      ...stream,
      userId,
      groups: subscriber.groups,
      headers,
      onClose,
    });
    // One line per connection opened and closed, at debug level; never one per message. The child logger
    // (and the closure holding it) only exists when debug is on: an idle stream retains nothing for it.
    // The close is the stream's own (its socket may no longer belong to the response, see `sse.ts`).
    if (request.log.level === 'debug' || request.log.level === 'trace') {
      const logger = request.log.child({ connection: sub.id, user: sub.userId });
      logger.debug({ transport: sub.info.transport, remote: sub.info.remoteAddress }, 'stream opened');
      const openedAt = sub.openedAt;
      logClose = () => logger.debug({ durationMs: Date.now() - openedAt }, 'stream closed');
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
        info: { transport: 'poll', remoteAddress: request.socket.remoteAddress ?? '' },
        admit: () => limits.acquire(ip, userId),
        watch: expiresAt === undefined ? undefined : (sub) => expiry.add(sub, expiresAt),
      },
      closed,
    );
  }
}
