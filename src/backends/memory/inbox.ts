import type { InboxChange, InboxCursor, InboxEntry, InboxTables } from '../../core/inbox.js';
import type { Message } from '../../core/message.js';
import { compareSequences, isLogPosition } from '../../protocol/position.js';
import { USER_TOPIC_PREFIX } from '../../protocol/topics.js';

/** Options of the in-process inbox tables. */
export interface MemoryInboxOptions {
  /** The clock of expiry. */
  readonly now: () => number;
  /** `--inbox-max-ttl`: a cursor that has not moved for this long covers nothing still kept. */
  readonly maxTtlMs: number;
  /** How often expired entries are dropped; default 10 s. */
  readonly sweepIntervalMs?: number;
}

/** One user's state of the shared messages. */
interface MemoryCursor {
  through: string | undefined;
  readonly acked: Map<string, InboxEntry>;
  movedAt: number;
}

/**
 * Inboxes in this process, written by `MemoryLog` in the same synchronous step as the message: lost on
 * restart, like the log. Each kept message is stored once; personal and shared entries point at it by
 * position. A sweep drops what expired, so memory follows what waits, not what was ever sent.
 */
export class MemoryInboxTables implements InboxTables {
  /** Kept messages by position, in log order. */
  private readonly kept = new Map<string, Message>();
  /** Publisher id → position, for acknowledgements by id. */
  private readonly ids = new Map<string, string>();
  private readonly personalOf = new Map<string, Map<string, InboxEntry>>();
  private readonly sharedOf = new Map<string, Map<string, InboxEntry>>();
  private readonly cursors = new Map<string, MemoryCursor>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: MemoryInboxOptions) {
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 10_000);
    this.sweeper.unref();
  }

  /** Keeps a message published with a ttl in the inbox of everyone it is addressed to. */
  keep(message: Message): void {
    const expiresAt = message.expiresAt;
    if (expiresAt === undefined) return;
    const entry: InboxEntry = { pos: message.pos, expiresAt };
    this.kept.set(message.pos, message);
    if (message.id !== message.pos) this.ids.set(message.id, message.pos);
    for (const topic of message.topics) {
      if (topic.startsWith(USER_TOPIC_PREFIX))
        add(this.personalOf, topic.slice(USER_TOPIC_PREFIX.length), entry);
      else add(this.sharedOf, topic, entry);
    }
  }

  readonly idle = (userId: string, topics: readonly string[]): boolean => {
    if (this.personalOf.has(userId)) return false;
    for (const topic of topics) if (this.sharedOf.has(topic)) return false;
    for (const topic of this.sharedOf.keys()) {
      if (topic.startsWith('prefix:') && userId.startsWith(topic.slice(7))) return false;
    }
    return true;
  };

  async personal(userId: string): Promise<readonly InboxEntry[]> {
    return [...(this.personalOf.get(userId)?.values() ?? [])];
  }

  async shared(topics: readonly string[]): Promise<readonly InboxEntry[]> {
    const entries: InboxEntry[] = [];
    for (const topic of topics)
      for (const entry of this.sharedOf.get(topic)?.values() ?? []) entries.push(entry);
    return entries;
  }

  async prefixTopics(): Promise<readonly string[]> {
    return [...this.sharedOf.keys()].filter((topic) => topic.startsWith('prefix:'));
  }

  async cursor(userId: string): Promise<InboxCursor> {
    const cursor = this.cursors.get(userId);
    return cursor === undefined
      ? { acked: [] }
      : { through: cursor.through, acked: [...cursor.acked.values()] };
  }

  async messages(positions: readonly string[]): Promise<readonly (Message | undefined)[]> {
    return positions.map((pos) => this.kept.get(pos));
  }

  async find(ids: readonly string[]): Promise<readonly (Message | undefined)[]> {
    return ids.map((id) => this.kept.get(isLogPosition(id) ? id : (this.ids.get(id) ?? '')));
  }

  async change(userId: string, change: InboxChange): Promise<void> {
    const personal = this.personalOf.get(userId);
    if (personal !== undefined) {
      for (const entry of change.remove ?? []) personal.delete(entry.pos);
      if (personal.size === 0) this.personalOf.delete(userId);
    }
    if (change.advance === undefined && change.ack === undefined && change.forget === undefined) return;
    let cursor = this.cursors.get(userId);
    if (cursor === undefined) {
      cursor = { through: undefined, acked: new Map(), movedAt: 0 };
      this.cursors.set(userId, cursor);
    }
    cursor.movedAt = this.options.now();
    const advance = change.advance;
    if (
      advance !== undefined &&
      (cursor.through === undefined || compareSequences(advance, cursor.through) > 0)
    )
      cursor.through = advance;
    for (const entry of change.forget ?? []) cursor.acked.delete(entry.pos);
    for (const entry of change.ack ?? []) cursor.acked.set(entry.pos, entry);
  }

  /** Drops expired messages and entries, and cursors that cover nothing still kept. */
  sweep(): void {
    const now = this.options.now();
    for (const [pos, message] of this.kept) {
      if ((message.expiresAt ?? 0) > now) continue;
      this.kept.delete(pos);
      if (message.id !== pos) this.ids.delete(message.id);
      for (const topic of message.topics) {
        if (topic.startsWith(USER_TOPIC_PREFIX))
          remove(this.personalOf, topic.slice(USER_TOPIC_PREFIX.length), pos);
        else remove(this.sharedOf, topic, pos);
      }
    }
    for (const [userId, cursor] of this.cursors) {
      for (const [pos, entry] of cursor.acked) if (entry.expiresAt <= now) cursor.acked.delete(pos);
      // Every shared message it covers was published before it moved, so has expired by now.
      if (cursor.acked.size === 0 && cursor.movedAt + this.options.maxTtlMs <= now)
        this.cursors.delete(userId);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

function add(index: Map<string, Map<string, InboxEntry>>, key: string, entry: InboxEntry): void {
  let entries = index.get(key);
  if (entries === undefined) {
    entries = new Map();
    index.set(key, entries);
  }
  entries.set(entry.pos, entry);
}

function remove(index: Map<string, Map<string, InboxEntry>>, key: string, pos: string): void {
  const entries = index.get(key);
  if (entries === undefined) return;
  entries.delete(pos);
  if (entries.size === 0) index.delete(key);
}
