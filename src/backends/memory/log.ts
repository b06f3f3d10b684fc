import { type Message, type MessageDraft, messageFromDraft } from '../../core/message.js';
import { DuplicateIdError, type Log, type Replay } from '../../core/ports.js';
import {
  clockEpoch,
  compareSequences,
  isLogPosition,
  positionOf,
  sequenceIn,
} from '../../protocol/position.js';
import { type Audience, addressedTo } from '../../protocol/topics.js';

/** Retention of the in-memory log. */
export interface MemoryLogOptions {
  /** Messages kept for replay (a ring buffer of this size). */
  readonly historySize: number;
  /** Milliseconds a message stays replayable. */
  readonly historyAgeMs: number;
  /** Clock, for tests of age retention. */
  readonly now?: () => number;
  /** Called with every stored message that has a ttl, before the tail sees it: the inbox keeps it. */
  readonly keep?: (message: Message) => void;
}

/** Where a publisher-chosen id points, and since when it is reserved. */
interface Reservation {
  readonly seq: number;
  readonly ts: number;
}

/**
 * The embedded default: a bounded ring buffer of recent messages in this process.
 *
 * Positions are `<epoch>-<seq>`: the epoch is drawn at start, so after a restart an id from the old
 * process is unknown (a `gap`), never mistaken for a message of the new one.
 *
 * Publisher-chosen ids stay reserved for `historyAgeMs` even once the ring dropped their message, so a
 * retry is refused rather than stored twice; the reservations take memory in proportion to the messages
 * published with an id within that age.
 */
export class MemoryLog implements Log {
  readonly epoch: string;
  private readonly ring: (Message | undefined)[];
  /** In publish order, hence in `ts` order: pruning by age takes from the front. */
  private readonly reservations = new Map<string, Reservation>();
  private headSeq = 0;
  private oldestSeq = 1;
  private listener: (message: Message) => void = () => {};
  private readonly now: () => number;

  constructor(private readonly options: MemoryLogOptions) {
    if (options.historySize < 1) throw new RangeError('historySize must be at least 1');
    this.ring = new Array(options.historySize);
    this.now = options.now ?? Date.now;
    // Drawn at every process start: digit-first (publisher ids are letter-first) and distinct.
    this.epoch = clockEpoch();
  }

  async append(draft: MessageDraft): Promise<Message> {
    this.pruneByAge();
    if (draft.id !== undefined && this.reservations.has(draft.id)) throw new DuplicateIdError(draft.id);
    return this.store(draft);
  }

  async appendMany(drafts: readonly MessageDraft[]): Promise<Message[]> {
    this.pruneByAge();
    const ids = new Set<string>();
    for (const draft of drafts) {
      if (draft.id === undefined) continue;
      if (this.reservations.has(draft.id) || ids.has(draft.id)) throw new DuplicateIdError(draft.id);
      ids.add(draft.id);
    }
    return drafts.map((draft) => this.store(draft));
  }

  async head(): Promise<string> {
    return this.positionOf(this.headSeq);
  }

  tail(listener: (message: Message) => void): void {
    this.listener = listener;
  }

  async readAfter(id: string, audience: Audience, limit: number): Promise<Replay> {
    this.pruneByAge();
    const seq = this.resolve(id);
    if (seq === undefined || seq > this.headSeq) return { kind: 'gap', reason: 'unknown-id' };
    if (seq < this.oldestSeq - 1) return { kind: 'gap', reason: 'expired' };
    const messages: Message[] = [];
    // Bound the scan too, so a page costs O(limit) even when few messages are addressed to the audience.
    const scanEnd = Math.min(this.headSeq, seq + limit * 16);
    let s = seq + 1;
    for (; s <= scanEnd && messages.length < limit; s++) {
      const message = this.at(s);
      if (addressedTo(message.topics, audience)) messages.push(message);
    }
    const through = this.positionOf(s - 1);
    return { kind: 'messages', messages, through, next: s <= this.headSeq ? through : undefined };
  }

  comparePositions(a: string, b: string): number {
    return compareSequences(a, b);
  }

  async close(): Promise<void> {
    this.listener = () => {};
  }

  private store(draft: MessageDraft): Message {
    const seq = this.headSeq + 1;
    const pos = this.positionOf(seq);
    const message = messageFromDraft(draft, pos, this.now());
    this.ring[seq % this.ring.length] = message;
    this.headSeq = seq;
    this.oldestSeq = Math.max(this.oldestSeq, seq - this.ring.length + 1);
    if (draft.id !== undefined) this.reservations.set(draft.id, { seq, ts: message.ts });
    if (message.expiresAt !== undefined) this.options.keep?.(message);
    this.listener(message);
    return message;
  }

  private pruneByAge(): void {
    const cutoff = this.now() - this.options.historyAgeMs;
    while (this.oldestSeq <= this.headSeq) {
      if (this.at(this.oldestSeq).ts >= cutoff) break;
      this.ring[this.oldestSeq % this.ring.length] = undefined;
      this.oldestSeq++;
    }
    for (const [id, reservation] of this.reservations) {
      if (reservation.ts >= cutoff) break;
      this.reservations.delete(id);
    }
  }

  private at(seq: number): Message {
    return this.ring[seq % this.ring.length] as Message;
  }

  private resolve(id: string): number | undefined {
    if (!isLogPosition(id)) return this.reservations.get(id)?.seq;
    return sequenceIn(id, this.epoch);
  }

  private positionOf(seq: number): string {
    return positionOf(this.epoch, seq);
  }
}
