import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { ExpiryWheel } from '../auth/expiry-wheel.js';
import type { Subscription } from '../core/subscription.js';
import type { PollResponse } from '../protocol/wire.js';
import type { LongPoll } from '../transport/long-poll.js';
import type { StreamOpener, StreamRequest } from '../transport/streams.js';
import { hijackForStream, type StreamHeaders } from './hijack.js';
import type { Subscriber } from './identity.js';
import type { ConnectionLimits } from './limits.js';

/** One request for a stream, whichever path it came by: Fastify's routes or the `GET /events` fast path. */
export interface StreamCall {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  /** The client's address (after `trustProxy`): what the per-address limit counts. */
  readonly ip: string;
  /** The request's logger (with its `reqId`). */
  readonly log: FastifyBaseLogger;
  /** Takes the response from whoever routed it, once the slot is taken; returns the headers it must carry. */
  readonly takeOver: () => StreamHeaders;
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
    private readonly polls: LongPoll,
  ) {}

  /** Takes a connection slot (or throws 429/503), hijacks the reply and starts the stream. */
  open(
    request: FastifyRequest,
    reply: FastifyReply,
    subscriber: Subscriber,
    stream: Omit<StreamRequest, 'userId' | 'groups'>,
  ): Subscription {
    const call: StreamCall = {
      request: request.raw,
      response: reply.raw,
      ip: request.ip,
      log: request.log,
      takeOver: () => hijackForStream(reply),
    };
    return this.openCall(call, subscriber, stream);
  }

  /**
   * As `open`, for a request Fastify never saw (the `GET /events` fast path) as for one it routed: takes a
   * connection slot (or throws 429/503), takes the response over and starts the stream.
   */
  openCall(
    call: StreamCall,
    subscriber: Subscriber,
    stream: Omit<StreamRequest, 'userId' | 'groups'>,
  ): Subscription {
    const limits = this.limits;
    const ip = call.ip;
    const userId = subscriber.userId;
    limits.take(ip, userId);
    const headers = call.takeOver();
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
    // Built field by field: an object literal that starts with a spread (`{ ...stream, userId }`) takes
    // V8's slow path in Node 20, ~4 µs a connection (bench/connect-cost.ts found it).
    const sub = this.streams.open(call.request, call.response, {
      userId,
      groups: subscriber.groups,
      lastEventId: stream.lastEventId,
      greetingEvents: stream.greetingEvents,
      encoder: stream.encoder,
      greeting: stream.greeting,
      filter: stream.filter,
      headers,
      onClose,
      // Behind a trusted proxy, the client's address (as the limits count it), not the proxy's.
      remoteAddress: ip,
    } satisfies { [Field in keyof StreamRequest]-?: unknown });
    // One line per connection opened and closed, at debug level; never one per message. The child logger
    // (and the closure holding it) only exists when debug is on: an idle stream retains nothing for it.
    // The close is the stream's own (its socket may no longer belong to the response, see `sse.ts`).
    const log = call.log;
    const level = log.level;
    if (level === 'debug' || level === 'trace') {
      const logger = log.child({ connection: sub.id, user: sub.userId });
      logger.debug({ transport: sub.info.transport, remote: sub.info.remoteAddress }, 'stream opened');
      const openedAt = sub.openedAt;
      logClose = () => logger.debug({ durationMs: Date.now() - openedAt }, 'stream closed');
    }
    const gone = call.request.socket.destroyed || call.response.destroyed;
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
        info: { transport: 'poll', remoteAddress: ip },
        admit: () => limits.acquire(ip, userId),
        watch: expiresAt === undefined ? undefined : (sub) => expiry.add(sub, expiresAt),
      },
      closed,
    );
  }
}
