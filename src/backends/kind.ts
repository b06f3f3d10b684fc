import type { Logger } from 'pino';
import type { BackendOpening } from '../core/ports.js';

/** What a backend is opened with: the node's settings that backends read, and its logger. */
export interface BackendOptions {
  /** Messages kept for replay (`--history-size`). */
  readonly historySize: number;
  /** Milliseconds a message stays replayable and a publisher id reserved (`--history-age`). */
  readonly historyAgeMs: number;
  /** This node's id, unique in the cluster. */
  readonly nodeId: string;
  /** Prefix of every key a shared store holds, so several clusters can share one (`--redis-prefix`). */
  readonly keyPrefix: string;
  /** A node that stops heartbeating leaves the cluster's presence after this long (`--presence-ttl`). */
  readonly presenceTtlMs: number;
  /** Where a backend reports what an operator should know (its storage lost and back, failing upkeep). */
  readonly logger: Logger;
  /** The clock of inbox expiry (`Date.now` unless a test moves time). */
  readonly now: () => number;
  /** The longest ttl (`--inbox-max-ttl`): a user's shared-message cursor is dropped this long after its last move. */
  readonly inboxMaxTtlMs: number;
  /** How long a presence change must last before its event (`--presence-debounce`). */
  readonly presenceDebounceMs: number;
  /** Presence events kept for resuming (`--presence-history`). */
  readonly presenceHistory: number;
}

/** One backend as the registry lists it: which `--log` values are its, and how to open it. */
export interface BackendKind {
  /** How `--log` names it, for the error of an invalid value: `sqlite:<path>`. */
  readonly expected: string;
  /** True when `url` names this backend (its scheme); the first kind that claims a URL opens it. */
  claims(url: string): boolean;
  /** True when a claimed `url` is complete enough to open (checked when the configuration loads). */
  valid(url: string): boolean;
  /** Opens the storage; see `BackendOpening` for the second step. */
  open(url: string, options: BackendOptions): Promise<BackendOpening>;
}
