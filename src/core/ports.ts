import type { Audience } from '../protocol/topics.js';
import type { GroupStore } from './groups.js';
import type { Hub } from './hub.js';
import type { InboxStore } from './inbox.js';
import type { Message, MessageDraft } from './message.js';
import type { PresenceFeed } from './presence-events.js';

/** The outcome of reading history after a client's Last-Event-ID. */
export type Replay =
  | {
      readonly kind: 'messages';
      /** Messages addressed to the audience, after the id, in log order. */
      readonly messages: readonly Message[];
      /**
       * How far the read covered the log: every message after the id, up to and including this position,
       * that is addressed to the audience is in `messages`. At least the id's own position; the log's head
       * when nothing remains. A node whose tail is behind the log uses it to tell which live messages the
       * replay already covered.
       */
      readonly through: string;
      /** Set when more history remains: the position to continue reading after (equal to `through`). */
      readonly next?: string | undefined;
    }
  | {
      readonly kind: 'gap';
      /** `unknown-id`: the log never issued it (or it came from a lost log); `expired`: older than retention. */
      readonly reason: 'unknown-id' | 'expired';
    };

/** Raised by `Log.append` when a publisher-chosen id is still reserved: used within the history age. */
export class DuplicateIdError extends Error {
  constructor(readonly id: string) {
    super(`id ${id} is already used`);
  }
}

/** Raised by a log that cannot reach its storage; the API answers 503 and nothing is accepted. */
export class LogUnavailableError extends Error {}

/**
 * The ordered message log: history for replay and, for shared backends, the fan-out between nodes.
 *
 * Contract (every implementation, checked by `test/contract/log.contract.ts`):
 * - `append` resolves only once the message is stored as durably as the backend allows; its position is
 *   greater than every earlier position, and positions are never reused, not even across restarts
 *   (an in-memory log prefixes an epoch).
 * - every appended message reaches the `tail` listener exactly once, in position order.
 * - `readAfter(id)` returns exactly the messages after `id` addressed to the audience, or a `gap` when `id`
 *   was never issued by this log or is older than the retained history.
 * - a publisher-chosen id stays reserved for the history age, even once its message was trimmed by count:
 *   `append` refuses it, and `readAfter` of it is a `gap` `expired`.
 * - a draft with `ttlMs` is stored with `expiresAt` (its acceptance time plus the ttl), and kept in the
 *   backend's inbox tables (`core/inbox.ts`) by the same atomic step: answered means in every inbox.
 */
export interface Log {
  /** Appends a message; rejects with `DuplicateIdError` when a publisher id is reused within the history age. */
  append(draft: MessageDraft): Promise<Message>;
  /** Appends several messages atomically in order (one round trip where the backend allows). */
  appendMany(drafts: readonly MessageDraft[]): Promise<Message[]>;
  /** The position of the last appended message, or the log's start position when it is empty. */
  head(): Promise<string>;
  /**
   * Registers the one listener that receives every message appended from now on, in order. A shared log
   * that lost its history (Redis restarted empty: a new epoch) calls `onRestart` with the new log's start
   * position before the new log's messages: positions from before it are unknown from then on.
   */
  tail(listener: (message: Message) => void, onRestart?: (start: string) => void): void;
  /** History after `id` (a message id or a position) addressed to `audience`, at most `limit` per call. */
  readAfter(id: string, audience: Audience, limit: number): Promise<Replay>;
  /** Orders two positions of this log: negative, zero or positive. */
  comparePositions(a: string, b: string): number;
  /** Stops tailing and releases resources. */
  close(): Promise<void>;
}

/** Presence summary: exact counts of open connections and distinct users online. */
export interface PresenceSummary {
  readonly connections: number;
  readonly users: number;
}

/** One online user and how many connections it holds. */
export interface UserPresence {
  readonly id: string;
  readonly online: boolean;
  readonly connections: number;
}

/** A page of online users, in id order; `nextCursor` continues after the last one. */
export interface UserPage {
  readonly users: readonly UserPresence[];
  readonly nextCursor?: string | undefined;
}

/** Who is connected: this node's subscriptions, or (clustered) every node's. */
export interface Presence {
  summary(): Promise<PresenceSummary>;
  /** Online users whose id starts with `prefix`, after `cursor` (exclusive), at most `limit`. */
  listUsers(query: { prefix: string; limit: number; cursor?: string | undefined }): Promise<UserPage>;
  user(id: string): Promise<UserPresence>;
}

/** Server-side actions on connections: on this node, or on every node of a cluster. */
export interface ConnectionControl {
  /** Ends every connection of `userId`; resolves with how many were open (cluster-wide when clustered). */
  disconnectUser(userId: string): Promise<number>;
}

/** One node's figures at one instant, as the dashboard shows them. */
export interface NodeStats {
  readonly id: string;
  readonly connections: number;
  readonly users: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Event-loop delay over the last interval, in milliseconds. */
  readonly eventLoopLagMs: { readonly mean: number; readonly p99: number; readonly max: number };
}

/** Where nodes of a cluster share their figures, so the dashboard of any node shows every node. */
export interface NodeDirectory {
  /** Publishes this node's latest figures (fire and forget; called once per sampling interval). */
  share(stats: NodeStats): void;
  /** The other live nodes' latest figures, as of the last `share`. */
  others(): readonly NodeStats[];
  /** Withdraws this node. */
  close(): Promise<void>;
}

/**
 * Everything one storage backend gives a node, opened once per node: the log, and what the backend keeps
 * beside it — presence, server-side close, and (for a cluster) the node directory. Picked by the `--log`
 * URL through `backends/registry.ts`; nothing else names a concrete backend.
 *
 * Opening takes two steps, because the hub is built on the log (its head, its reads) while presence and
 * control act on the hub: `openBackend` opens the storage and answers a `BackendOpening`, whose `log` the
 * composition root builds the hub on; `attach(hub)` then completes it into the `Backend`, once, before the
 * log is tailed.
 */
export interface BackendOpening {
  /** The open log: the hub reads its head and history; `attach` completes the rest. */
  readonly log: Log;
  /** Builds presence, control and directory on `hub`; call once. */
  attach(hub: Hub): Backend;
}

/** An open backend, attached to this node's hub: see `BackendOpening`. */
export interface Backend {
  readonly log: Log;
  readonly presence: Presence;
  readonly control: ConnectionControl;
  /** Users' inboxes of messages published with a `ttl` (`core/inbox.ts`). */
  readonly inbox: InboxStore;
  /** Users' server-side groups, and their announcement to the live connections of every node. */
  readonly groups: GroupStore;
  /** Presence events (`online`, `offline`), debounced, decided once per cluster. */
  readonly presenceEvents: PresenceFeed;
  /** Where nodes share their figures; absent for a single node. */
  readonly directory?: NodeDirectory | undefined;
  /**
   * False while the backend knows its storage is unreachable, so the node reports not ready and a load
   * balancer sends new clients elsewhere. A backend that cannot know answers true (readiness still times
   * a `head()`).
   */
  available(): boolean;
  /**
   * Sees every message of the tail once, right after the hub delivered it (cluster control messages act
   * here); a no-op for backends without any. On the hot path: once per message, never per recipient.
   */
  observe(message: Message): void;
  /**
   * Writes a consistent copy of the stored log to the file `path` while the node runs (`GET
   * /admin/api/backup`). Absent where Herald holds no file: the memory log has nothing to keep, and Redis
   * is backed up by Redis (RDB/AOF, replicas).
   */
  backup?(path: string): Promise<void>;
  /** Releases the directory, then presence and its events, then the log. */
  close(): Promise<void>;
}
