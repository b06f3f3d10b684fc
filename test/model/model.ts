import type { FreshStart, Received, Subscriber } from './subscriber.js';
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
  /** Published with a ttl: it waits in its users' inboxes until acknowledged. */
  readonly ttl: boolean;
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

/** One acknowledgement the model sent: the user's messages through `throughTag` (in log order). */
interface ModelAck {
  readonly user: string;
  readonly throughTag: number;
  /** `Model.clock` when it was sent: a fresh start after it may or may not have seen it yet. */
  readonly sentAt: number;
}

/**
 * How a message concerns a subscriber: `required` (addressed by its user, a prefix, `all` or a group of its
 * token), `optional` (only through a server-side group the user was in at some time: a change takes effect
 * in log order on live connections, but a replay that overlaps it uses the groups of its reads), or `no`.
 */
type Addressing = 'required' | 'optional' | 'no';

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
  readonly stats = {
    published: 0,
    maybe: 0,
    faults: 0,
    gaps: 0,
    checked: 0,
    operations: 0,
    fresh: 0,
    inboxed: 0,
  };
  /** Orders acknowledgements and fresh starts. */
  private clock = 0;
  private readonly acks: ModelAck[] = [];
  /** Tags being published: a connection greeted meanwhile may have registered before or after them. */
  private readonly inFlight = new Set<number>();
  /** Every server-side group each user was (or may have been) in during the run. */
  private readonly everServerGroups = new Map<string, Set<string>>();

  /** A tag for a message about to be published: in flight until `add` records it. */
  newTag(): number {
    const tag = this.nextTag++;
    this.inFlight.add(tag);
    return tag;
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
    this.inFlight.delete(message.tag);
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

  /** A subscriber's connection without Last-Event-ID (a new device) was greeted now. */
  freshStarted(): Omit<FreshStart, 'kind'> {
    this.stats.fresh++;
    return { at: this.acknowledgedCount(), seenAt: ++this.clock, during: [...this.inFlight] };
  }

  /** An acknowledgement through `throughTag` for `user` is being sent; call `acked` once it was answered. */
  acking(): number {
    return ++this.clock;
  }

  acked(user: string, throughTag: number, sentAt: number): void {
    this.acks.push({ user, throughTag, sentAt });
  }

  /** The user is (or may now be) in these server-side groups. */
  joined(user: string, groups: readonly string[]): void {
    let ever = this.everServerGroups.get(user);
    if (ever === undefined) {
      ever = new Set();
      this.everServerGroups.set(user, ever);
    }
    for (const group of groups) ever.add(group);
  }

  private addressing(message: ModelMessage, subscriber: Subscriber): Addressing {
    if (addresses(message.to, subscriber)) return 'required';
    const ever = this.everServerGroups.get(subscriber.user);
    return message.to.groups?.some((group) => ever?.has(group)) ? 'optional' : 'no';
  }

  /** True when an acknowledgement of the user covering `message` may have been applied before `seenAt`. */
  private ackedBefore(user: string, message: ModelMessage, seenAt: number): boolean {
    const at = this.messages.indexOf(message);
    return this.acks.some(
      (ack) =>
        ack.user === user &&
        ack.sentAt < seenAt &&
        this.messages.findIndex((m) => m.tag === ack.throughTag) >= at,
    );
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
   *
   * A connection opened without Last-Event-ID later (a new device: `fresh`) starts a new segment, checked
   * on its own: it must first get every message published with a ttl before it that addresses it, was not
   * acknowledged by its user and not lost with the log (SSE only: a long-poll reads no inbox) — its inbox —
   * then everything after it; other messages from before it may come (live, from a node behind) or not.
   */
  check(subscriber: Subscriber): string[] {
    const segments: { fresh: FreshStart | null; items: Received[]; offset: number }[] = [];
    subscriber.received.forEach((item, i) => {
      if (item.kind === 'fresh') segments.push({ fresh: item, items: [], offset: i + 1 });
      else {
        if (segments.length === 0) segments.push({ fresh: null, items: [], offset: 0 });
        (segments[segments.length - 1] as { items: Received[] }).items.push(item);
      }
    });
    if (segments.length === 0) segments.push({ fresh: null, items: [], offset: 0 });
    return segments.flatMap((segment, k) =>
      this.checkSegment(subscriber, segment.items, segment.fresh, segment.offset, k === segments.length - 1),
    );
  }

  private checkSegment(
    subscriber: Subscriber,
    items: readonly Received[],
    fresh: FreshStart | null,
    offset: number,
    last: boolean,
  ): string[] {
    const problems: string[] = [];
    const acknowledged = this.messages.filter((message) => message.status === 'acked');
    const optional = new Set<number>();
    const required: ModelMessage[] = [];
    acknowledged.forEach((message, ordinal) => {
      const addressing = this.addressing(message, subscriber);
      if (addressing === 'no') return;
      let needed = addressing === 'required';
      // Answered before the greeting, or being published while it came: maybe before the registration.
      if (fresh !== null && (ordinal < fresh.at || fresh.during.includes(message.tag))) {
        needed =
          needed &&
          message.ttl &&
          subscriber.transport === 'sse' &&
          !this.ackedBefore(subscriber.user, message, fresh.seenAt) &&
          !this.lostSince(message);
      }
      if (needed) {
        required.push(message);
        if (fresh !== null && ordinal < fresh.at) this.stats.inboxed++;
      } else optional.add(message.tag);
    });
    const index = new Map(required.map((message, i) => [message.tag, i]));
    // The first required message acknowledged after the subscriber started: nothing from it on may be missed.
    let firstAfterStart = required.length;
    if (fresh === null) {
      const started = this.startedAt.get(subscriber) ?? 0;
      let acked = 0;
      for (const message of acknowledged) {
        acked++;
        if (acked > started && index.has(message.tag)) {
          firstAfterStart = index.get(message.tag) ?? required.length;
          break;
        }
      }
    } else firstAfterStart = 0;
    const seen = new Set<number>();
    let pointer = -1;
    let gapBefore = false;
    let lastTag: number | undefined;
    let lossesAtLastGap = -1;
    const where = (i: number): string =>
      `at event ${offset + i} of ${subscriber}${fresh === null ? '' : ' (after a fresh start)'}`;
    items.forEach((item: Received, i) => {
      if (item.kind === 'fresh') return;
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
      if (this.addressing(message, subscriber) === 'no') {
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
      if (at === undefined) return; // a maybe-message, or one it may or may not get: allowed once, anywhere
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
    // A segment a fresh start ended was given up by its client: what it did not get yet it never will.
    const missing = last ? required.slice(pointer + 1).map((m) => m.tag) : [];
    if (missing.length > 0 && !(pointer === -1 && firstAfterStart >= required.length)) {
      const got = items.map((r) => (r.kind === 'message' ? r.tag : r.kind)).slice(-8);
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
