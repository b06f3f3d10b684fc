import type { Hub } from '../../core/hub.js';
import type { PresenceEvent, PresenceFeed, PresenceHistory } from '../../core/presence-events.js';
import { clockEpoch, compareSequences, positionOf, sequenceIn } from '../../protocol/position.js';

/** Options of one node's presence events. */
export interface LocalPresenceFeedOptions {
  /** How long a change must last before its event. */
  readonly debounceMs: number;
  /** Events kept for resuming. */
  readonly history: number;
}

/**
 * Presence events of one node, from its hub's counts: a user's change is decided once it has lasted the
 * debounce (a reload within it changes nothing), and told if the user's state differs from the last one
 * told. Ids are `<epoch>-<seq>` (a new epoch per process: an id from before a restart is a gap). One timer
 * serves every pending user; the debounce is the same for all, so they come due in the order they changed.
 */
export class LocalPresenceFeed implements PresenceFeed {
  private readonly epoch = clockEpoch();
  private seq = 0;
  private readonly kept: PresenceEvent[] = [];
  private readonly listeners = new Set<(event: PresenceEvent) => void>();
  private readonly deciders: ((event: PresenceEvent) => void)[] = [];
  /** Users whose count changed, and when the change is due (in due order). */
  private readonly due = new Map<string, number>();
  /** Users last told online. */
  private readonly online = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly unwatch: () => void;

  constructor(
    private readonly hub: Hub,
    private readonly options: LocalPresenceFeedOptions,
  ) {
    this.unwatch = hub.onUserChange((userId) => this.changed(userId));
  }

  async head(): Promise<string> {
    return positionOf(this.epoch, this.seq);
  }

  async after(id: string): Promise<PresenceHistory> {
    const seq = sequenceIn(id, this.epoch);
    const first = this.seq - this.kept.length;
    if (seq === undefined || seq > this.seq || seq < first) return { kind: 'gap' };
    return { kind: 'events', events: this.kept.slice(seq - first) };
  }

  compare(a: string, b: string): number {
    return compareSequences(a, b);
  }

  listen(listener: (event: PresenceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onDecided(listener: (event: PresenceEvent) => void): void {
    this.deciders.push(listener);
  }

  async close(): Promise<void> {
    this.unwatch();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private changed(userId: string): void {
    this.due.delete(userId);
    this.due.set(userId, Date.now() + this.options.debounceMs);
    if (this.timer === null) this.arm();
  }

  private arm(): void {
    const next = this.due.values().next();
    if (next.done === true) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, next.value - Date.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    const now = Date.now();
    for (const [userId, at] of this.due) {
      if (at > now) break;
      this.due.delete(userId);
      const connections = this.hub.connectionCountOf(userId);
      const online = connections > 0;
      if (online === this.online.has(userId)) continue;
      if (online) this.online.add(userId);
      else this.online.delete(userId);
      this.tell({
        id: positionOf(this.epoch, ++this.seq),
        event: online ? 'online' : 'offline',
        user: userId,
        connections,
        ts: now,
      });
    }
    this.arm();
  }

  private tell(event: PresenceEvent): void {
    this.kept.push(event);
    if (this.kept.length > this.options.history) this.kept.shift();
    for (const listener of this.listeners) listener(event);
    for (const decider of this.deciders) decider(event);
  }
}
