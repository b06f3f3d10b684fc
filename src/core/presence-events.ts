/**
 * Presence the backend can follow: a user goes `online` when its first connection in the cluster opens and
 * `offline` when its last one closes — each told only once the change has lasted the debounce
 * (`--presence-debounce`), so a page reload is not an offline+online pair. Events carry ids, are kept in a
 * bounded window (`--presence-history`), and are told once per cluster.
 */

/** One presence event. */
export interface PresenceEvent {
  /** Orders the events of one feed; what `GET /presence/events` sends as `id:` and resumes after. */
  readonly id: string;
  readonly event: 'online' | 'offline';
  readonly user: string;
  /** The user's open connections in the cluster when the event was decided. */
  readonly connections: number;
  /** Milliseconds since the epoch at which it was decided. */
  readonly ts: number;
}

/** The events after an id, or a `gap` when the id is older than the window or unknown. */
export type PresenceHistory =
  | { readonly kind: 'events'; readonly events: readonly PresenceEvent[] }
  | { readonly kind: 'gap' };

/** The port: one per backend (this node's hub, or the cluster's on a shared backend). */
export interface PresenceFeed {
  /** The id of the newest event (or the feed's start): where a fresh stream begins. */
  head(): Promise<string>;
  /** The kept events after `id`, in order; a `gap` when `id` is not one of the feed's or fell out of the window. */
  after(id: string): Promise<PresenceHistory>;
  /** Orders two event ids of this feed. */
  compare(a: string, b: string): number;
  /** Calls `listener` with every event from now on, in order, as this node learns of it; returns the stop. */
  listen(listener: (event: PresenceEvent) => void): () => void;
  /**
   * Calls `listener` with the events this node decided: each event of the cluster is decided by exactly
   * one node, so a webhook sent from here is sent once.
   */
  onDecided(listener: (event: PresenceEvent) => void): void;
  close(): Promise<void>;
}
