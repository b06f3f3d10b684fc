import type { Audience } from '../protocol/topics.js';
import type { DisconnectReason } from './disconnect.js';
import type { Message } from './message.js';

/** Bytes out to one client: implemented by each transport (SSE over HTTP/1.1 or HTTP/2, ...). */
export interface Sink {
  /** Writes whole frames; never called with a partial frame (empty when its encoder's frames are). */
  write(chunk: Buffer): void;
  /** Bytes accepted by `write` but not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Resolves once buffered output has drained (or the connection closed). */
  drained(): Promise<void>;
  /** Ends the connection; the transport then calls `Hub.detach`. Idempotent. */
  end(reason: DisconnectReason): void;
}

/** What the hub tells a connection that may have missed messages: the SSE `gap` event's fields. */
export interface GapNotice {
  /** Where the connection resumes from now (its new Last-Event-ID). */
  readonly id: string;
  /** `unknown-id`: the log never issued it (or lost it); `expired`: older than the retained history. */
  readonly reason: 'unknown-id' | 'expired';
  /** The id the connection resumed from, or where it was when the log restarted. */
  readonly lastEventId: string;
}

/**
 * How a transport turns what the hub hands out into frames: the hub never encodes. One encoder is shared
 * by every subscription of a transport, and the hub encodes each message once per delivery per encoder,
 * so every recipient sharing it gets the same `Buffer`. A frame may be empty: the sink is still written
 * to (a long-poll session only needs to know that something arrived).
 */
export interface Encoder {
  /** The frame of one message. */
  message(message: Message): Buffer;
  /** The frame telling the connection of a gap. */
  gap(notice: GapNotice): Buffer;
  /**
   * The frame telling the connection how many inbox messages wait for its user (see `core/inbox.ts`).
   * Optional: only subscriptions whose encoder has it are sent their user's inbox when they connect
   * without a Last-Event-ID (a long-poll session reads the log instead).
   */
  inbox?(notice: InboxNotice): Buffer;
  /** The frame telling the connection its groups changed (server-side groups); optional. */
  groups?(groups: readonly string[]): Buffer;
}

/** What the hub tells a connection about its user's inbox: the SSE `inbox` event's fields. */
export interface InboxNotice {
  /** How many messages wait for the user (unacknowledged, unexpired). */
  readonly unread: number;
  /** After the inbox was sent on connect: where the connection resumes from (its new Last-Event-ID). */
  readonly id?: string | undefined;
}

/**
 * The first frame(s) of one connection, given the id it resumes from: supplied by its transport to
 * `Hub.attach` (per connection, so nothing of it stays on the subscription).
 */
export type Greeting = (resumeId: string) => Buffer;

/**
 * Decides which of the messages the router reaches a subscription with it actually takes: for protocol
 * adapters whose subscribers select finer than users and groups (Mercure's topic matchers and private
 * updates). Consulted once per message and recipient, live and in replay; the router still narrows first.
 */
export interface MessageFilter {
  /** True when the subscription takes `message`. Pure and quick: it runs on the delivery path. */
  accepts(message: Message): boolean;
}

/** What the transport knows about the connection, for presence listings. */
export interface ConnectionInfo {
  readonly transport: string;
  readonly remoteAddress: string;
}

/** The server-side groups of a user who has none: one array for all of them. */
const NO_SERVER_GROUPS: readonly string[] = Object.freeze([]);

/** One open connection of one user. Mutable state is the hub's; transports only read it. */
export class Subscription implements Audience {
  /** Milliseconds since the epoch at which it was opened. */
  readonly openedAt = Date.now();
  /** Frames waiting for this tick's flush; coalesced into one write. */
  pending: Buffer[] = [];
  pendingBytes = 0;
  /** While replaying history: live messages held back, to be deduplicated against the replay. */
  held: Message[] | null = null;
  heldBytes = 0;
  /** When replay read ahead of the local tail: drop live messages up to this position. */
  skipThrough: string | null = null;
  /** The hub's delivery counter at the last message offered, so a message with many topics is sent once. */
  deliveryMark = 0;
  closed = false;
  /**
   * The groups it receives: `requestedGroups` plus its user's server-side groups (`core/groups.ts`),
   * changed by the hub while it is open.
   */
  groups: readonly string[];
  /** Its user's server-side groups, as the hub last applied them (shared, never changed in place). */
  serverGroups: readonly string[] = NO_SERVER_GROUPS;

  constructor(
    /** Connection id, unique within the process. */
    readonly id: string,
    readonly userId: string,
    /** The groups its transport asked for: the token's, or development mode's `?group=`. */
    readonly requestedGroups: readonly string[],
    readonly sink: Sink,
    /** Its transport's encoder (shared with the transport's other subscriptions). */
    readonly encoder: Encoder,
    readonly info: ConnectionInfo,
    /** Narrows what the router delivers to it; null (the native API) takes every message routed to it. */
    readonly filter: MessageFilter | null = null,
  ) {
    this.groups = requestedGroups;
  }
}
