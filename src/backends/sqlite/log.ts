import { type Message, type MessageDraft, messageFromDraft, messageOf } from '../../core/message.js';
import { DuplicateIdError, type Log, LogUnavailableError, type Replay } from '../../core/ports.js';
import { StartupError } from '../../errors.js';
import {
  clockEpoch,
  compareSequences,
  isLogPosition,
  positionOf,
  sequenceIn,
} from '../../protocol/position.js';
import { type Audience, addressedTo } from '../../protocol/topics.js';
import { type Database, type Statement, sqliteDriver } from './driver.js';

/** Options of the SQLite log. */
export interface SqliteLogOptions {
  /** Path of the database file (created when missing). */
  readonly path: string;
  /** Messages kept for replay (`--history-size`). */
  readonly historySize: number;
  /** Milliseconds a message stays replayable (`--history-age`). */
  readonly historyAgeMs: number;
  /** Clock, for tests of age retention. */
  readonly now?: () => number;
  /** How often the background pruner runs; default 1 s. */
  readonly pruneIntervalMs?: number;
  /** Most rows one pruning step deletes before yielding to the event loop; default 1000. */
  readonly pruneBatch?: number;
  /**
   * Told when pruning starts failing (once per streak of failures, with the first error) and when it
   * works again. A failing prune deletes nothing, so the file only grows until the disk recovers.
   */
  readonly onPruneEvent?: (event: PruneEvent) => void;
  /**
   * Builds, on the open database, what keeps messages with a ttl in inboxes: its `keep` runs inside the
   * append's transaction, so a message is stored with its inbox entries or not at all.
   */
  readonly keeper?: (db: Database, epoch: string) => AppendKeeper;
}

/** Told of each message with a ttl inside the append's transaction (see `SqliteLogOptions.keeper`). */
export interface AppendKeeper {
  keep(message: Message, seq: number): void;
}

/** What the background pruner reports. */
export type PruneEvent = { readonly kind: 'failing'; readonly error: Error } | { readonly kind: 'recovered' };

/** What a replay scans of each message: enough to tell whether it is addressed to the audience. */
interface Routing {
  seq: number;
  topics: string;
}

/** The rest of a message, loaded only for the ones a replay returns. */
interface Payload {
  pid: string | null;
  event: string | null;
  data: string;
  json: number;
  ts: number;
  expires: number | null;
}

interface PendingAppend {
  readonly drafts: readonly MessageDraft[];
  readonly resolve: (messages: Message[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * A durable log for one machine: one SQLite file in WAL mode with `synchronous=FULL`, so a message is
 * on disk before `append` resolves and survives a crash of the process (even `kill -9`) or of the host.
 *
 * Positions are `<epoch>-<seq>`: `seq` is the row id (`AUTOINCREMENT`, so never reused, not even after
 * pruning), and the epoch is drawn when the file is created, so an id from a deleted or replaced file is
 * unknown (a `gap`) rather than mistaken for a message of the new one.
 *
 * Appends made in the same event-loop turn share one transaction (group commit): one fsync for many
 * messages. Retention is enforced logically on every read and physically by a background pruner that
 * deletes in small batches, yielding between them, so delivery never waits for a large delete.
 * Publisher-chosen ids are reserved in `reserved_ids`, written with their message: a reservation outlives
 * a message trimmed by count and is freed by the pruner once past `historyAgeMs` and its message deleted.
 * The file is locked exclusively: a second process cannot open it (it would not see the first's tail).
 */
export class SqliteLog implements Log {
  readonly epoch: string;
  private readonly db: Database;
  private readonly now: () => number;
  private readonly pruneBatch: number;
  private headSeq: number;
  /** Every row with `seq <= prunedThrough` has been deleted. */
  private prunedThrough: number;
  private listener: (message: Message) => void = () => {};
  private queue: PendingAppend[] = [];
  private commitScheduled = false;
  private closed = false;
  private readonly pruneTimer: NodeJS.Timeout;
  private pruning: Promise<number> | null = null;
  /** True from a failed pruning step until one succeeds: a streak of failures is reported once. */
  private pruneFailing = false;
  private readonly insert: Statement<
    [string | null, string, string | null, string, number, number, number | null]
  >;
  private readonly keeper: AppendKeeper | undefined;
  private readonly reserve: Statement<[string, number, number]>;
  private readonly reservedSeq: Statement<[string], number>;
  private readonly firstTs: Statement<[number], number>;
  private readonly routing: Statement<[number, number], Routing>;
  private readonly payload: Statement<[number], Payload>;
  private readonly oldestRows: Statement<[number, number], { seq: number; ts: number }>;
  private readonly deleteRange: Statement<[number, number]>;
  private readonly freeReservations: Statement<[number, number, number]>;

  constructor(private readonly options: SqliteLogOptions) {
    if (options.historySize < 1) throw new RangeError('historySize must be at least 1');
    this.now = options.now ?? Date.now;
    this.pruneBatch = options.pruneBatch ?? 1000;
    this.db = openDatabase(options.path);
    const db = this.db;
    this.epoch = (db.prepare("SELECT value FROM meta WHERE key = 'epoch'").pluck().get() as string) ?? '';
    this.headSeq = Number(
      db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").pluck().get() ?? 0,
    );
    const oldest = db.prepare('SELECT min(seq) FROM messages').pluck().get() as number | null;
    this.prunedThrough = oldest === null ? this.headSeq : oldest - 1;
    this.insert = db.prepare(
      'INSERT INTO messages (pid, topics, event, data, json, ts, expires) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.keeper = options.keeper?.(db, this.epoch);
    this.reserve = db.prepare('INSERT INTO reserved_ids (pid, seq, ts) VALUES (?, ?, ?)');
    this.reservedSeq = db.prepare<[string], number>('SELECT seq FROM reserved_ids WHERE pid = ?').pluck();
    this.firstTs = db
      .prepare<[number], number>('SELECT ts FROM messages WHERE seq > ? ORDER BY seq LIMIT 1')
      .pluck();
    // Not `ts`: it is stored after `data`, so reading it would read every large payload of the scan.
    this.routing = db.prepare<[number, number], Routing>(
      'SELECT seq, topics FROM messages WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.payload = db.prepare<[number], Payload>(
      'SELECT pid, event, data, json, ts, expires FROM messages WHERE seq = ?',
    );
    this.oldestRows = db.prepare<[number, number], { seq: number; ts: number }>(
      'SELECT seq, ts FROM messages WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.deleteRange = db.prepare('DELETE FROM messages WHERE seq > ? AND seq <= ?');
    // Only once the message is deleted too: `messages.pid` is unique, so its id cannot be stored again before.
    this.freeReservations = db.prepare(
      'DELETE FROM reserved_ids WHERE pid IN (SELECT pid FROM reserved_ids WHERE ts < ? AND seq <= ? LIMIT ?)',
    );
    this.pruneTimer = setInterval(() => void this.prune(), options.pruneIntervalMs ?? 1000);
    this.pruneTimer.unref();
  }

  append(draft: MessageDraft): Promise<Message> {
    return this.enqueue([draft]).then((messages) => messages[0] as Message);
  }

  appendMany(drafts: readonly MessageDraft[]): Promise<Message[]> {
    if (drafts.length === 0) return Promise.resolve([]);
    return this.enqueue(drafts);
  }

  async head(): Promise<string> {
    return this.positionOf(this.headSeq);
  }

  tail(listener: (message: Message) => void): void {
    this.listener = listener;
  }

  async readAfter(id: string, audience: Audience, limit: number): Promise<Replay> {
    if (this.closed) throw new LogUnavailableError('the SQLite log is closed');
    try {
      const seq = this.resolve(id);
      if (seq === undefined || seq > this.headSeq) return { kind: 'gap', reason: 'unknown-id' };
      if (seq < this.prunedThrough || seq < this.headSeq - this.options.historySize) {
        return { kind: 'gap', reason: 'expired' };
      }
      // The first message after `id` is past its age: the client missed it for good (the pruner lags).
      const firstTs = this.firstTs.get(seq);
      if (firstTs !== undefined && firstTs < this.now() - this.options.historyAgeMs) {
        return { kind: 'gap', reason: 'expired' };
      }
      // Bound the scan too, so a page costs O(limit) even when few messages are addressed to the audience;
      // it reads only the topics, and payloads only of the messages it returns.
      const messages: Message[] = [];
      let last = seq;
      for (const row of this.routing.iterate(seq, limit * 16)) {
        last = row.seq;
        const topics = JSON.parse(row.topics) as string[];
        if (!addressedTo(topics, audience)) continue;
        messages.push(this.messageOf(row.seq, topics, this.payload.get(row.seq) as Payload));
        if (messages.length === limit) break;
      }
      const more = last < this.headSeq;
      const through = this.positionOf(more ? last : this.headSeq);
      return { kind: 'messages', messages, through, next: more ? through : undefined };
    } catch (error) {
      throw new LogUnavailableError(`the SQLite log cannot be read: ${(error as Error).message}`);
    }
  }

  comparePositions(a: string, b: string): number {
    return compareSequences(a, b);
  }

  /**
   * Writes a consistent copy of the file to `path` while the node runs, through SQLite's online backup API
   * (a copy of the file itself would miss what is still in the WAL, and no other process may read it: the
   * lock is exclusive). The copy has no epoch: a node opened on it draws a new one, so its clients are told
   * with a `gap` of what was published after the copy, and no position is ever issued twice.
   */
  async backup(path: string): Promise<void> {
    if (this.closed) throw new LogUnavailableError('the SQLite log is closed');
    await this.db.backup(path);
    const copy = new (sqliteDriver())(path);
    try {
      copy.prepare("DELETE FROM meta WHERE key = 'epoch'").run();
      // One self-contained file, whatever the journal mode the copy inherited.
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.pruneTimer);
    this.commit();
    this.closed = true;
    this.listener = () => {};
    this.db.close();
  }

  private enqueue(drafts: readonly MessageDraft[]): Promise<Message[]> {
    if (this.closed) return Promise.reject(new LogUnavailableError('the SQLite log is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ drafts, resolve, reject });
      if (!this.commitScheduled) {
        this.commitScheduled = true;
        setImmediate(() => this.commit());
      }
    });
  }

  /**
   * Writes every queued append in one transaction, then hands the messages to the tail in order. Each append
   * is answered only once the transaction committed: if it rolls back, a duplicate was not "already stored"
   * by it either, so every append of the batch fails alike.
   */
  private commit(): void {
    this.commitScheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const accepted: { append: PendingAppend; messages: Message[] }[] = [];
    const duplicates: { append: PendingAppend; id: string }[] = [];
    const ts = this.now();
    let seq = this.headSeq;
    try {
      this.db.transaction(() => {
        for (const append of batch) {
          const duplicate = this.findDuplicate(append.drafts);
          if (duplicate !== undefined) {
            duplicates.push({ append, id: duplicate });
            continue;
          }
          const messages: Message[] = [];
          for (const draft of append.drafts) {
            const topics = JSON.stringify(draft.topics);
            const json = draft.json === true ? 1 : 0;
            const result = this.insert.run(
              draft.id ?? null,
              topics,
              draft.event ?? null,
              draft.data,
              json,
              ts,
              draft.ttlMs === undefined ? null : ts + draft.ttlMs,
            );
            seq = Number(result.lastInsertRowid);
            const message = messageFromDraft(draft, this.positionOf(seq), ts);
            messages.push(message);
            if (draft.id !== undefined) this.reserve.run(draft.id, seq, ts);
            if (message.expiresAt !== undefined) this.keeper?.keep(message, seq);
          }
          accepted.push({ append, messages });
        }
      })();
    } catch (error) {
      const failure = new LogUnavailableError(
        `the SQLite log cannot be written: ${(error as Error).message}`,
      );
      for (const append of batch) append.reject(failure);
      return;
    }
    this.headSeq = seq;
    for (const { append, id } of duplicates) append.reject(new DuplicateIdError(id));
    for (const { append, messages } of accepted) {
      for (const message of messages) this.listener(message);
      append.resolve(messages);
    }
  }

  /** A publisher id of `drafts` that is reserved (by this transaction's earlier appends too) or repeated. */
  private findDuplicate(drafts: readonly MessageDraft[]): string | undefined {
    const inBatch = new Set<string>();
    for (const draft of drafts) {
      const id = draft.id;
      if (id === undefined) continue;
      if (inBatch.has(id) || this.reservedSeq.get(id) !== undefined) return id;
      inBatch.add(id);
    }
    return undefined;
  }

  /** Number of messages stored (retained or not yet pruned); for tests and metrics. */
  storedCount(): number {
    return this.db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
  }

  /**
   * Deletes the messages past retention and frees the publisher ids past `historyAgeMs`, at most
   * `pruneBatch` of each per step, yielding to the event loop between steps; resolves with how many
   * messages were deleted. Runs in the background every `pruneIntervalMs`.
   */
  prune(): Promise<number> {
    if (this.pruning !== null) return this.pruning;
    const run = new Promise<number>((resolve) => {
      let deleted = 0;
      const step = (): void => {
        const count = this.closed ? -1 : this.pruneStep();
        if (count >= 0) {
          deleted += count;
          setImmediate(step);
          return;
        }
        resolve(deleted);
      };
      step();
    });
    this.pruning = run.then((deleted) => {
      this.pruning = null;
      return deleted;
    });
    return this.pruning;
  }

  /**
   * Deletes one batch of messages and frees one batch of publisher ids past retention; returns how many
   * messages it deleted, or -1 when there was nothing to do.
   */
  private pruneStep(): number {
    try {
      const limit = this.prunedThrough + this.pruneBatch;
      let target = Math.min(this.headSeq - this.options.historySize, limit);
      const cutoff = this.now() - this.options.historyAgeMs;
      for (const row of this.oldestRows.iterate(this.prunedThrough, this.pruneBatch)) {
        if (row.ts >= cutoff) break;
        target = Math.max(target, row.seq);
      }
      const trims = target > this.prunedThrough;
      let deleted = 0;
      if (trims) {
        deleted = this.deleteRange.run(this.prunedThrough, target).changes;
        this.prunedThrough = target;
      }
      const freed = this.freeReservations.run(cutoff, this.prunedThrough, this.pruneBatch).changes;
      if (this.pruneFailing) {
        this.pruneFailing = false;
        this.options.onPruneEvent?.({ kind: 'recovered' });
      }
      return trims || freed > 0 ? deleted : -1;
    } catch (error) {
      // A busy or failing disk: nothing was deleted (each statement is atomic); try again at the next
      // interval, and say so once per streak.
      if (!this.pruneFailing) {
        this.pruneFailing = true;
        this.options.onPruneEvent?.({ kind: 'failing', error: error as Error });
      }
      return -1;
    }
  }

  private resolve(id: string): number | undefined {
    if (!isLogPosition(id)) return this.reservedSeq.get(id);
    return sequenceIn(id, this.epoch);
  }

  private messageOf(seq: number, topics: string[], row: Payload): Message {
    return messageOf({
      pos: this.positionOf(seq),
      publisherId: row.pid,
      topics,
      event: row.event,
      data: row.data,
      json: row.json === 1,
      ts: row.ts,
      expiresAt: row.expires,
    });
  }

  private positionOf(seq: number): string {
    return positionOf(this.epoch, seq);
  }
}

/** Opens (creating when needed) the database, takes its exclusive lock and returns it ready for use. */
function openDatabase(path: string): Database {
  let db: Database | undefined;
  try {
    const Driver = sqliteDriver();
    db = new Driver(path, { timeout: 1000 });
    // Exclusive before WAL: the lock is held for the life of the process and the WAL index stays in memory.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    // FULL: the WAL is fsynced at every commit, so an answered publish survives a power cut too.
    db.pragma('synchronous = FULL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        pid TEXT UNIQUE,
        topics TEXT NOT NULL,
        event TEXT,
        data TEXT NOT NULL,
        ts INTEGER NOT NULL,
        json INTEGER NOT NULL DEFAULT 0
      );
    `);
    // Files created before the json flag existed gain the column (every old message was text).
    const columns = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('messages') as string[];
    if (!columns.includes('json')) db.exec('ALTER TABLE messages ADD COLUMN json INTEGER NOT NULL DEFAULT 0');
    // ... and the expiry of messages published with a ttl (none before).
    if (!columns.includes('expires')) db.exec('ALTER TABLE messages ADD COLUMN expires INTEGER');
    // Files created before reservations existed reserve the ids of the messages they still hold.
    const reservations = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('reserved_ids');
    if (reservations.length === 0) {
      db.exec(`
        BEGIN;
        CREATE TABLE reserved_ids (pid TEXT PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL);
        CREATE INDEX reserved_ids_by_ts ON reserved_ids (ts);
        INSERT INTO reserved_ids (pid, seq, ts) SELECT pid, seq, ts FROM messages WHERE pid IS NOT NULL;
        COMMIT;
      `);
    }
    // Drawn when the file is created: digit-first, distinct for every file ever created.
    db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)").run(clockEpoch());
    return db;
  } catch (error) {
    db?.close();
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_BUSY') {
      throw new StartupError(`the SQLite log ${path} is in use by another process (one Herald per file)`);
    }
    throw new StartupError(`cannot open the SQLite log ${path}: ${(error as Error).message}`);
  }
}
