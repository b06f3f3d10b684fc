import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ExpiryWheel } from '../auth/expiry-wheel.js';
import type { Subscription } from '../core/subscription.js';
import type { PollResponse } from '../protocol/wire.js';
import type { LongPoll } from '../transport/long-poll.js';
import type { StreamOpener, StreamRequest } from '../transport/streams.js';
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
    /** Long-polling; polls take a connection slot while they wait, like streams. */
    private readonly polls?: LongPoll,
  ) {}

  /** Takes a connection slot (or throws 429/503), hijacks the reply and starts the stream. */
  open(
    request: FastifyRequest,
    reply: FastifyReply,
    subscriber: Subscriber,
    stream: Omit<StreamRequest, 'userId' | 'groups'>,
  ): Subscription {
    const release = this.limits.acquire(request.ip, subscriber.userId);
    reply.hijack();
    // Headers set by hooks (CORS) live on the reply; a hijacked response must carry them itself.
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) reply.raw.setHeader(name, value);
    }
    let unwatch: (() => void) | undefined;
    reply.raw.once('close', () => {
      release();
      unwatch?.();
    });
    const sub = this.streams.open(request.raw, reply.raw, {
      ...stream,
      userId: subscriber.userId,
      groups: subscriber.groups,
    });
    // One line per connection opened and closed, at debug level; never one per message. The child logger
    // (and the closure holding it) only exists when debug is on: an idle stream retains nothing for it.
    if (request.log.level === 'debug' || request.log.level === 'trace') {
      const log = request.log.child({ connection: sub.id, user: sub.userId });
      log.debug({ transport: sub.info.transport, remote: sub.info.remoteAddress }, 'stream opened');
      reply.raw.once('close', () => log.debug({ durationMs: Date.now() - sub.openedAt }, 'stream closed'));
    }
    const gone = request.raw.socket.destroyed || reply.raw.destroyed;
    if (gone) release();
    else if (subscriber.expiresAt !== undefined && !sub.closed) {
      unwatch = this.expiry.add(sub, subscriber.expiresAt);
    }
    return sub;
  }

  /** Takes a connection slot (or throws 429/503) for the length of one long-poll, and answers it. */
  async poll(
    request: FastifyRequest,
    reply: FastifyReply,
    subscriber: Subscriber,
    lastEventId: string | undefined,
  ): Promise<PollResponse> {
    if (this.polls === undefined) throw new Error('long-polling is not configured');
    const release = this.limits.acquire(request.ip, subscriber.userId);
    let unwatch: (() => void) | undefined;
    const closed = new Promise<void>((resolve) => reply.raw.once('close', resolve));
    try {
      return await this.polls.poll(
        {
          userId: subscriber.userId,
          groups: subscriber.groups,
          lastEventId,
          info: { transport: 'poll', remoteAddress: request.socket.remoteAddress ?? '' },
          onRegistered: (sub) => {
            if (subscriber.expiresAt !== undefined) unwatch = this.expiry.add(sub, subscriber.expiresAt);
          },
        },
        closed,
      );
    } finally {
      unwatch?.();
      release();
    }
  }
}
