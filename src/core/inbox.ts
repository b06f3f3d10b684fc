import { ALL, type Audience, groupTopic, parseTopic, USER_TOPIC_PREFIX } from '../protocol/topics.js';
import type { Message } from './message.js';

/**
 * Inboxes: messages published with a `ttl` wait for the users they are addressed to until each user
 * acknowledges them or the ttl passes — whether or not the user was online — so a user who connects
 * tomorrow, on another device, still gets them. The inbox is not the replay history: its retention is the
 * ttl, not `--history-size`.
 *
 * - A message to `users` is kept once, and each addressed user gets a personal entry (its position and
 *   expiry); acknowledging removes the user's entry.
 * - A message to `all`, groups or a user prefix is kept once with one shared entry per topic, and each
 *   user keeps a cursor: every shared message at or before it is acknowledged by that user (plus the few
 *   acknowledged one by one after it). No copy per user, so a broadcast costs the same for any audience.
 *
 * What a user has waiting is read from its personal entries and the shared entries of its topics (`all`,
 * its groups, the prefixes it matches) after its cursor: the cost grows with what waits for the user and
 * the shared messages alive on its topics, never with the log's length or the number of users.
 * Each backend stores the entries (`InboxTables`) and writes them in the same step as the message's
 * append, so a message answered 202 is in every addressed inbox; `Inbox` below holds the rules.
 */

/** One message waiting for one user (personal) or for a shared topic: its position and until when. */
export interface InboxEntry {
  readonly pos: string;
  /** Milliseconds since the epoch after which it no longer waits. */
  readonly expiresAt: number;
}

/** What one user has acknowledged of the shared messages (to `all`, groups, prefixes). */
export interface InboxCursor {
  /** Every shared message at or before this position is acknowledged; undefined: none yet. */
  readonly through?: string | undefined;
  /** Shared messages after `through` acknowledged one by one (by id). */
  readonly acked: readonly InboxEntry[];
}

/** A change to one user's inbox state. */
export interface InboxChange {
  /** Personal entries to remove. */
  readonly remove?: readonly InboxEntry[];
  /** Moves the cursor to this position, unless it is already past it. */
  readonly advance?: string;
  /** Shared messages acknowledged one by one. */
  readonly ack?: readonly InboxEntry[];
  /** Singly acknowledged entries to forget (the cursor covers them now). */
  readonly forget?: readonly InboxEntry[];
}

/**
 * Where a backend keeps inboxes: the rows `Inbox` reads and changes. Reads may return expired entries
 * (the backend removes them in the background); `Inbox` ignores them. Entries are written by the
 * backend's `Log.append`, in the same atomic step as the message.
 */
export interface InboxTables {
  /** The personal entries of `userId`, in any order. */
  personal(userId: string): Promise<readonly InboxEntry[]>;
  /** The shared entries of any of `topics`, in any order (a message on two of them may come twice). */
  shared(topics: readonly string[]): Promise<readonly InboxEntry[]>;
  /** The `prefix:` topics that have shared entries (few: one per prefix published to with a ttl). */
  prefixTopics(): Promise<readonly string[]>;
  cursor(userId: string): Promise<InboxCursor>;
  /** The kept messages at `positions` (undefined where none is kept any more). */
  messages(positions: readonly string[]): Promise<readonly (Message | undefined)[]>;
  /** The kept messages whose id (publisher id or position) is each of `ids`. */
  find(ids: readonly string[]): Promise<readonly (Message | undefined)[]>;
  change(userId: string, change: InboxChange): Promise<void>;
  /**
   * True when, without I/O, the tables show no entry at all for the user or its topics (`all`, its
   * groups, its prefixes): nothing can wait. Tables in this process have it; false means "maybe".
   */
  readonly idle?: (userId: string, topics: readonly string[]) => boolean;
}

/** One page of what waits for a user. */
export interface InboxPage {
  /** How many messages wait in all (unacknowledged, not expired). */
  readonly unread: number;
  /** This page, in log order. */
  readonly messages: readonly Message[];
  /** Set when more wait: the position to continue after. */
  readonly next?: string | undefined;
}

/** What an acknowledgement names: messages one by one, or everything through one message. */
export type InboxAck =
  | { readonly kind: 'ids'; readonly messages: readonly Message[] }
  | { readonly kind: 'through'; readonly message: Message };

/** What an acknowledgement did. */
export interface InboxAckResult {
  /** How many of the messages it named were waiting (and are not any more). */
  readonly acked: number;
  /** How many still wait. */
  readonly unread: number;
}

/** The inbox port: what the HTTP routes and the hub use (see the rules above). */
export interface InboxStore {
  /**
   * True when nothing can wait for `audience`, known without I/O (absent, or false: read `waiting`). A
   * connection then opens without reading its inbox, as fast as without inboxes.
   */
  readonly idle?: (audience: Audience) => boolean;
  /** What waits for `audience`, in log order, after the position `after`, at most `limit` messages. */
  waiting(
    audience: Audience,
    options: { readonly after?: string | undefined; readonly limit: number },
  ): Promise<InboxPage>;
  /** The kept, unexpired messages whose ids are among `ids` (acknowledged or not), by id. */
  find(ids: readonly string[]): Promise<Map<string, Message>>;
  /** Acknowledges for `audience.userId`; tells the user's live connections, on every node, what is unread. */
  acknowledge(audience: Audience, ack: InboxAck): Promise<InboxAckResult>;
  /** Acknowledges everything waiting for the user now (a publisher clears the badge); resolves with how many. */
  clear(audience: Audience): Promise<number>;
}

/** What `Inbox` works with besides its tables. */
export interface InboxOptions {
  /** Orders two positions of the log (`Log.comparePositions`). */
  readonly compare: (a: string, b: string) => number;
  /** The clock of expiry; tests pass one that jumps. */
  readonly now: () => number;
  /** The log's head: clearing acknowledges every shared message up to it. */
  readonly head: () => Promise<string>;
  /** Tells the user's live connections, on every node, how many messages wait (fire and forget). */
  readonly announce: (userId: string, unread: number) => void;
}

/** What `load` reads: the waiting entries in log order, and the rows they came from. */
interface Loaded {
  readonly waiting: readonly InboxEntry[];
  readonly personal: readonly InboxEntry[];
  readonly cursor: InboxCursor;
}

/** The inbox rules over one backend's tables; see the top of this file. */
export class Inbox implements InboxStore {
  readonly idle?: (audience: Audience) => boolean;

  constructor(
    private readonly tables: InboxTables,
    private readonly options: InboxOptions,
  ) {
    const idle = tables.idle;
    if (idle !== undefined) {
      this.idle = (audience) => idle(audience.userId, [ALL, ...audience.groups.map(groupTopic)]);
    }
  }

  async waiting(
    audience: Audience,
    options: { readonly after?: string | undefined; readonly limit: number },
  ): Promise<InboxPage> {
    const { waiting } = await this.load(audience);
    const { compare } = this.options;
    const after = options.after;
    let start = 0;
    if (after !== undefined) {
      start = waiting.findIndex((entry) => compare(entry.pos, after) > 0);
      if (start < 0) start = waiting.length;
    }
    const slice = waiting.slice(start, start + options.limit);
    const found = await this.tables.messages(slice.map((entry) => entry.pos));
    const messages = found.filter((message): message is Message => message !== undefined);
    const more = start + options.limit < waiting.length;
    return { unread: waiting.length, messages, next: more ? slice[slice.length - 1]?.pos : undefined };
  }

  async find(ids: readonly string[]): Promise<Map<string, Message>> {
    const found = new Map<string, Message>();
    if (ids.length === 0) return found;
    const now = this.options.now();
    const messages = await this.tables.find(ids);
    messages.forEach((message, i) => {
      if (message?.expiresAt !== undefined && message.expiresAt > now) found.set(ids[i] as string, message);
    });
    return found;
  }

  async acknowledge(audience: Audience, ack: InboxAck): Promise<InboxAckResult> {
    const { waiting, personal, cursor } = await this.load(audience);
    const { compare } = this.options;
    let covered: (entry: InboxEntry) => boolean;
    let change: InboxChange;
    if (ack.kind === 'ids') {
      const positions = new Set(ack.messages.map((message) => message.pos));
      covered = (entry) => positions.has(entry.pos);
      change = {
        remove: personal.filter(covered),
        // Shared messages (to all, groups, prefixes) are acknowledged one by one beside the cursor.
        ack: ack.messages.filter(isShared).map(entryOf),
      };
    } else {
      const through = ack.message.pos;
      covered = (entry) => compare(entry.pos, through) <= 0;
      change = {
        remove: personal.filter(covered),
        advance: through,
        forget: cursor.acked.filter(covered),
      };
    }
    await this.tables.change(audience.userId, change);
    const acked = waiting.filter(covered).length;
    const unread = waiting.length - acked;
    this.options.announce(audience.userId, unread);
    return { acked, unread };
  }

  async clear(audience: Audience): Promise<number> {
    const [{ waiting, personal, cursor }, head] = await Promise.all([
      this.load(audience),
      this.options.head(),
    ]);
    await this.tables.change(audience.userId, { remove: personal, advance: head, forget: cursor.acked });
    this.options.announce(audience.userId, 0);
    return waiting.length;
  }

  /** What waits for `audience` now: its personal entries and its topics' shared ones after its cursor. */
  private async load(audience: Audience): Promise<Loaded> {
    const { tables } = this;
    const { compare } = this.options;
    const [personal, cursor, prefixes] = await Promise.all([
      tables.personal(audience.userId),
      tables.cursor(audience.userId),
      tables.prefixTopics(),
    ]);
    const topics = [ALL, ...audience.groups.map(groupTopic)];
    for (const topic of prefixes) if (audience.userId.startsWith(parseTopic(topic).name)) topics.push(topic);
    const shared = await tables.shared(topics);
    const now = this.options.now();
    const acked = new Set(cursor.acked.map((entry) => entry.pos));
    const through = cursor.through;
    const byPos = new Map<string, InboxEntry>();
    for (const entry of personal) if (entry.expiresAt > now) byPos.set(entry.pos, entry);
    for (const entry of shared) {
      if (entry.expiresAt <= now || acked.has(entry.pos)) continue;
      if (through !== undefined && compare(entry.pos, through) <= 0) continue;
      byPos.set(entry.pos, entry);
    }
    const waiting = [...byPos.values()].sort((a, b) => compare(a.pos, b.pos));
    return { waiting, personal, cursor };
  }
}

/** True when the message is addressed to something other than named users (a shared entry holds it). */
export function isShared(message: Pick<Message, 'topics'>): boolean {
  return message.topics.some((topic) => !topic.startsWith(USER_TOPIC_PREFIX));
}

/** A kept message's entry. */
export function entryOf(message: Message): InboxEntry {
  return { pos: message.pos, expiresAt: message.expiresAt ?? 0 };
}
