import { ALL, parseTopic } from '../protocol/topics.js';
import type { Subscription } from './subscription.js';

/**
 * The local index of subscriptions by user and group, so a message reaches its recipients in
 * O(recipients) (a user prefix scans the online users once).
 */
export class Router {
  /**
   * A user's connections as a plain array, not a `Set`: most users have one, and an empty `Set`'s hash
   * table alone (~280 bytes) outweighed the rest of what the router keeps per connection. A user's
   * connections are few (bounded by `--max-connections-per-user`), so removal by search stays cheap.
   */
  readonly byUser = new Map<string, Subscription[]>();
  readonly byGroup = new Map<string, Set<Subscription>>();
  readonly all = new Set<Subscription>();
  /** Told a user's number of local connections after each change (the hub fans it out to its listeners). */
  onUserChange: ((userId: string, connections: number) => void) | null = null;

  add(sub: Subscription): void {
    this.all.add(sub);
    const subs = this.byUser.get(sub.userId);
    if (subs === undefined) this.byUser.set(sub.userId, [sub]);
    else subs.push(sub);
    for (const group of sub.groups) addTo(this.byGroup, group, sub);
    this.onUserChange?.(sub.userId, this.byUser.get(sub.userId)?.length ?? 0);
  }

  /** Removes the subscription; returns false when it was not registered. */
  remove(sub: Subscription): boolean {
    if (!this.all.delete(sub)) return false;
    const subs = this.byUser.get(sub.userId);
    if (subs !== undefined) {
      const index = subs.indexOf(sub);
      if (index >= 0) subs.splice(index, 1);
      if (subs.length === 0) this.byUser.delete(sub.userId);
    }
    for (const group of sub.groups) removeFrom(this.byGroup, group, sub);
    this.onUserChange?.(sub.userId, this.byUser.get(sub.userId)?.length ?? 0);
    return true;
  }

  /**
   * Gives a subscription new groups (its user's server-side groups changed). Never while `visit` runs: a
   * subscription moved between the sets being walked could be skipped or offered twice.
   */
  regroup(sub: Subscription, groups: readonly string[]): void {
    if (!this.all.has(sub)) {
      sub.groups = groups;
      return;
    }
    for (const group of sub.groups) removeFrom(this.byGroup, group, sub);
    sub.groups = groups;
    for (const group of groups) addTo(this.byGroup, group, sub);
  }

  /** Calls `visit` for every subscription matching `topic` (possibly more than once across topics). */
  visit(topic: string, visit: (sub: Subscription) => void): void {
    if (topic === ALL) {
      for (const sub of this.all) visit(sub);
      return;
    }
    const { kind, name } = parseTopic(topic);
    if (kind === 'user') {
      const subs = this.byUser.get(name);
      if (subs !== undefined) for (const sub of subs) visit(sub);
    } else if (kind === 'group') {
      const subs = this.byGroup.get(name);
      if (subs !== undefined) for (const sub of subs) visit(sub);
    } else if (kind === 'prefix') {
      for (const [userId, subs] of this.byUser) {
        if (userId.startsWith(name)) for (const sub of subs) visit(sub);
      }
    }
  }
}

function addTo(index: Map<string, Set<Subscription>>, key: string, sub: Subscription): void {
  const set = index.get(key);
  if (set === undefined) index.set(key, new Set([sub]));
  else set.add(sub);
}

function removeFrom(index: Map<string, Set<Subscription>>, key: string, sub: Subscription): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(sub);
  if (set.size === 0) index.delete(key);
}
