import type { Received, Subscriber } from './subscriber.js';
import { HISTORY_SIZE } from './world.js';

/** Whom a model message is addressed to, as the publisher wrote it. */
export interface ModelTarget {
  readonly users?: readonly string[];
  readonly groups?: readonly string[];
  readonly userPrefix?: string;
  readonly all?: boolean;
}

/** One message the model published. */
export interface ModelMessage {
  readonly tag: number;
  readonly to: ModelTarget;
  readonly pid: string | undefined;
  /**
   * `acked`: answered 2xx, so in the log at this place of the order. `maybe`: the publish failed in a way
   * that may have stored it anyway (a timeout, a 503 after the write); allowed at most once, anywhere.
   */
  status: 'acked' | 'maybe';
}

/** True when `to` addresses the subscriber: the model's own statement of the routing rule. */
export function addresses(to: ModelTarget, subscriber: { user: string; groups: readonly string[] }): boolean {
  if (to.all === true) return true;
  if (to.users?.includes(subscriber.user)) return true;
  if (to.groups?.some((group) => subscriber.groups.includes(group))) return true;
  return to.userPrefix !== undefined && subscriber.user.startsWith(to.userPrefix);
}

/**
 * The reference model: every message acknowledged, in log order, and what every logical subscriber must
 * therefore have received. Publishes are sequential (or a concurrent group ordered by the positions the
 * log returned), so the order of acknowledgements is the log order.
 */
export class Model {
  /** Messages in log order (acked ones); maybe-messages sit where they were tried. */
  readonly messages: ModelMessage[] = [];
  private readonly byTag = new Map<number, ModelMessage>();
  private nextTag = 1;
  /** For each subscriber, how many messages were in the log when its first connection opened. */
  private readonly startedAt = new Map<Subscriber, number>();
  /** Message counts at which the log lost history (a memory node restarted, Redis lost its data). */
  readonly losses: number[] = [];
  /** Failures seen while running (a retry accepted twice, a publish answered strangely). */
  readonly violations: string[] = [];
  /** Counts for the soak's report. */
  readonly stats = { published: 0, maybe: 0, faults: 0, gaps: 0, checked: 0, operations: 0 };

  newTag(): number {
    return this.nextTag++;
  }

  /** Records a message at the end of the log order. */
  add(message: ModelMessage): void {
    const existing = this.byTag.get(message.tag);
    if (existing !== undefined) {
      // A retry of a maybe-message that is now acknowledged: it sits where the retry was stored.
      this.messages.splice(this.messages.indexOf(existing), 1);
    }
    this.messages.push(message);
    this.byTag.set(message.tag, message);
    if (message.status === 'acked') this.stats.published++;
    else this.stats.maybe++;
  }

  get(tag: number): ModelMessage | undefined {
    return this.byTag.get(tag);
  }

  /** The log lost its history now: any subscriber may be told `gap` from here on. */
  lost(): void {
    this.losses.push(this.messages.length);
  }

  /** True when the log lost its history after `message` was published. */
  lostSince(message: ModelMessage): boolean {
    const at = this.messages.indexOf(message);
    return this.losses.some((count) => count > at);
  }

  started(subscriber: Subscriber): void {
    this.startedAt.set(subscriber, this.acknowledgedCount());
  }

  private acknowledgedCount(): number {
    let count = 0;
    for (const message of this.messages) if (message.status === 'acked') count++;
    return count;
  }

  /**
   * Checks one subscriber's received sequence against the model; returns what is wrong (empty when
   * exact). Exactly the addressed acknowledged messages, in log order, once each, nothing foreign;
   * messages may be missing only directly before a `gap`, and a `gap` only where history was lost or
   * trimmed. Messages acknowledged before its first connection opened may be missed (a fresh connection
   * starts at its node's position), but only as a prefix.
   */
  check(subscriber: Subscriber): string[] {
    const problems: string[] = [];
    const required = this.messages.filter(
      (message) => message.status === 'acked' && addresses(message.to, subscriber),
    );
    const index = new Map(required.map((message, i) => [message.tag, i]));
    const started = this.startedAt.get(subscriber) ?? 0;
    // The first required message acknowledged after the subscriber started: nothing from it on may be missed.
    let firstAfterStart = required.length;
    let acked = 0;
    for (const message of this.messages) {
      if (message.status !== 'acked') continue;
      acked++;
      if (acked > started && addresses(message.to, subscriber)) {
        firstAfterStart = index.get(message.tag) ?? required.length;
        break;
      }
    }
    const seen = new Set<number>();
    let pointer = -1;
    let gapBefore = false;
    let lastTag: number | undefined;
    let lossesAtLastGap = -1;
    const where = (i: number): string => `at event ${i} of ${subscriber}`;
    subscriber.received.forEach((item: Received, i) => {
      if (item.kind === 'gap') {
        this.stats.gaps++;
        if (!this.gapJustified(lastTag, item.lossesBefore > lossesAtLastGap)) {
          problems.push(
            `${where(i)}: a gap (${item.reason}) with no history lost since its last message or gap`,
          );
        }
        lossesAtLastGap = item.lossesBefore;
        gapBefore = true;
        return;
      }
      this.stats.checked++;
      const message = this.byTag.get(item.tag);
      if (message === undefined) {
        problems.push(`${where(i)}: message ${item.tag} was never published`);
        return;
      }
      if (!addresses(message.to, subscriber)) {
        problems.push(
          `${where(i)}: message ${item.tag} is not addressed to it (${JSON.stringify(message.to)})`,
        );
        return;
      }
      if (seen.has(item.tag)) {
        problems.push(`${where(i)}: message ${item.tag} received twice`);
        return;
      }
      seen.add(item.tag);
      lastTag = item.tag;
      const at = index.get(item.tag);
      if (at === undefined) return; // a maybe-message: allowed once, anywhere
      if (at <= pointer) {
        problems.push(`${where(i)}: message ${item.tag} out of order (after ${required[pointer]?.tag})`);
        return;
      }
      const skipped = required.slice(pointer + 1, at).map((m) => m.tag);
      const initialLag = pointer === -1 && at <= firstAfterStart;
      if (skipped.length > 0 && !gapBefore && !initialLag) {
        problems.push(`${where(i)}: missing ${skipped.join(',')} before ${item.tag}, with no gap`);
      }
      pointer = at;
      gapBefore = false;
    });
    const missing = required.slice(pointer + 1).map((m) => m.tag);
    if (missing.length > 0 && !(pointer === -1 && firstAfterStart >= required.length)) {
      const got = subscriber.received.map((r) => (r.kind === 'gap' ? 'gap' : r.tag)).slice(-8);
      problems.push(`${subscriber} never received ${missing.join(',')} (received … ${got.join(' ')})`);
    }
    return problems;
  }

  /**
   * A gap is allowed when enough was appended to trim what followed `lastTag`, or when the log lost its
   * history after `lastTag` — and, for a second gap in a row, lost it again after the first (one loss is
   * told once: a client told of it resumes from a position of the new log).
   */
  private gapJustified(lastTag: number | undefined, newLoss: boolean): boolean {
    const from = lastTag === undefined ? 0 : this.messages.findIndex((m) => m.tag === lastTag);
    if (this.messages.length - from >= HISTORY_SIZE) return true;
    return newLoss && this.losses.some((count) => count >= from);
  }
}
