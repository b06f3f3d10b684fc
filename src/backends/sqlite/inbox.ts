import type { InboxChange, InboxCursor, InboxEntry, InboxTables } from '../../core/inbox.js';
import { type Message, messageOf } from '../../core/message.js';
import { isLogPosition, positionOf, sequenceIn } from '../../protocol/position.js';
import { USER_TOPIC_PREFIX } from '../../protocol/topics.js';
import type { Database, Statement } from './driver.js';

/** Options of the SQLite inbox tables. */
export interface SqliteInboxOptions {
  /** The log's epoch: positions are `<epoch>-<seq>`. */
  readonly epoch: string;
  /** The clock of expiry. */
  readonly now: () => number;
  /** `--inbox-max-ttl`: a cursor that has not moved for this long covers nothing still kept. */
  readonly maxTtlMs: number;
  /** How often expired rows are deleted; default 10 s. */
  readonly sweepIntervalMs?: number;
}

interface KeptRow {
  seq: number;
  pid: string | null;
  topics: string;
  event: string | null;
  data: string;
  json: number;
  ts: number;
  expires: number;
}

interface EntryRow {
  seq: number;
  expires: number;
}

/** Rows one sweep step deletes per table at most, so a large expiry never holds the event loop. */
const SWEEP_BATCH = 1000;

/**
 * Inboxes in the log's SQLite file, durable like the log: a ttl message is inserted into `inbox_messages`
 * (and its entries into `inbox_personal`, `inbox_shared`) inside the log's own append transaction, so an
 * answered publish is in every addressed inbox, on disk. A background sweep deletes what expired.
 */
export class SqliteInboxTables implements InboxTables {
  private readonly insertKept: Statement<
    [number, string | null, string, string | null, string, number, number, number]
  >;
  private readonly insertPersonal: Statement<[string, number, number]>;
  private readonly insertShared: Statement<[string, number, number]>;
  private readonly personalOf: Statement<[string], EntryRow>;
  private readonly sharedOf: Statement<[string], EntryRow>;
  private readonly prefixes: Statement<[], string>;
  private readonly cursorOf: Statement<[string], { through: number | null }>;
  private readonly ackedOf: Statement<[string], EntryRow>;
  private readonly keptAt: Statement<[number], KeptRow>;
  private readonly keptById: Statement<[string], KeptRow>;
  private readonly removePersonal: Statement<[string, number]>;
  private readonly upsertCursor: Statement<[{ user: string; through: number | null; moved: number }]>;
  private readonly addAcked: Statement<[string, number, number]>;
  private readonly removeAcked: Statement<[string, number]>;
  private readonly sweepSteps: Statement<[number]>[];
  private readonly sweepCursors: Statement<[number]>;
  private readonly sweeper: NodeJS.Timeout;
  private readonly hasPersonal: Statement<[string], number>;
  private readonly hasShared: Statement<[string], number>;

  constructor(
    private readonly db: Database,
    private readonly options: SqliteInboxOptions,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS inbox_messages (
        seq INTEGER PRIMARY KEY, pid TEXT, topics TEXT NOT NULL, event TEXT, data TEXT NOT NULL,
        json INTEGER NOT NULL, ts INTEGER NOT NULL, expires INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS inbox_messages_by_pid ON inbox_messages (pid) WHERE pid IS NOT NULL;
      CREATE INDEX IF NOT EXISTS inbox_messages_by_expiry ON inbox_messages (expires);
      CREATE TABLE IF NOT EXISTS inbox_personal (
        user TEXT NOT NULL, seq INTEGER NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (user, seq)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS inbox_personal_by_expiry ON inbox_personal (expires);
      CREATE TABLE IF NOT EXISTS inbox_shared (
        topic TEXT NOT NULL, seq INTEGER NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (topic, seq)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS inbox_shared_by_expiry ON inbox_shared (expires);
      CREATE TABLE IF NOT EXISTS inbox_cursors (user TEXT PRIMARY KEY, through INTEGER, moved INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS inbox_acked (
        user TEXT NOT NULL, seq INTEGER NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (user, seq)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS inbox_acked_by_expiry ON inbox_acked (expires);
    `);
    this.insertKept = db.prepare(
      'INSERT INTO inbox_messages (seq, pid, topics, event, data, json, ts, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertPersonal = db.prepare(
      'INSERT OR REPLACE INTO inbox_personal (user, seq, expires) VALUES (?, ?, ?)',
    );
    this.insertShared = db.prepare(
      'INSERT OR REPLACE INTO inbox_shared (topic, seq, expires) VALUES (?, ?, ?)',
    );
    this.personalOf = db.prepare('SELECT seq, expires FROM inbox_personal WHERE user = ?');
    this.sharedOf = db.prepare('SELECT seq, expires FROM inbox_shared WHERE topic = ?');
    this.prefixes = db
      .prepare<[], string>(
        "SELECT DISTINCT topic FROM inbox_shared WHERE topic >= 'prefix:' AND topic < 'prefix;'",
      )
      .pluck();
    this.cursorOf = db.prepare('SELECT through FROM inbox_cursors WHERE user = ?');
    this.ackedOf = db.prepare('SELECT seq, expires FROM inbox_acked WHERE user = ?');
    this.keptAt = db.prepare('SELECT * FROM inbox_messages WHERE seq = ?');
    this.keptById = db.prepare('SELECT * FROM inbox_messages WHERE pid = ? ORDER BY seq DESC LIMIT 1');
    this.removePersonal = db.prepare('DELETE FROM inbox_personal WHERE user = ? AND seq = ?');
    // The cursor only moves forward: a late acknowledgement never takes back a later one.
    this.upsertCursor = db.prepare(
      `INSERT INTO inbox_cursors (user, through, moved) VALUES (@user, @through, @moved)
       ON CONFLICT (user) DO UPDATE SET moved = @moved,
         through = CASE WHEN @through IS NULL THEN through
                        WHEN through IS NULL OR @through > through THEN @through ELSE through END`,
    );
    this.addAcked = db.prepare('INSERT OR REPLACE INTO inbox_acked (user, seq, expires) VALUES (?, ?, ?)');
    this.removeAcked = db.prepare('DELETE FROM inbox_acked WHERE user = ? AND seq = ?');
    // One batch per statement; the WITHOUT ROWID tables delete by their keys.
    this.sweepSteps = [
      `DELETE FROM inbox_messages WHERE seq IN (SELECT seq FROM inbox_messages WHERE expires <= ? LIMIT ${SWEEP_BATCH})`,
      `DELETE FROM inbox_personal WHERE (user, seq) IN (SELECT user, seq FROM inbox_personal WHERE expires <= ? LIMIT ${SWEEP_BATCH})`,
      `DELETE FROM inbox_shared WHERE (topic, seq) IN (SELECT topic, seq FROM inbox_shared WHERE expires <= ? LIMIT ${SWEEP_BATCH})`,
      `DELETE FROM inbox_acked WHERE (user, seq) IN (SELECT user, seq FROM inbox_acked WHERE expires <= ? LIMIT ${SWEEP_BATCH})`,
    ].map((sql) => db.prepare(sql));
    this.sweepCursors = db.prepare(
      `DELETE FROM inbox_cursors WHERE user IN (SELECT user FROM inbox_cursors c WHERE moved <= ?
         AND NOT EXISTS (SELECT 1 FROM inbox_acked a WHERE a.user = c.user) LIMIT ${SWEEP_BATCH})`,
    );
    this.hasPersonal = db
      .prepare<[string], number>('SELECT 1 FROM inbox_personal WHERE user = ? LIMIT 1')
      .pluck();
    this.hasShared = db
      .prepare<[string], number>('SELECT 1 FROM inbox_shared WHERE topic = ? LIMIT 1')
      .pluck();
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 10_000);
    this.sweeper.unref();
  }

  /** Keeps `message` (stored at `seq`, with a ttl) in its users' inboxes; called inside the append's transaction. */
  keep(message: Message, seq: number): void {
    const expires = message.expiresAt as number;
    const pid = message.id === message.pos ? null : message.id;
    this.insertKept.run(
      seq,
      pid,
      JSON.stringify(message.topics),
      message.event ?? null,
      message.data,
      message.json === true ? 1 : 0,
      message.ts,
      expires,
    );
    for (const topic of message.topics) {
      if (topic.startsWith(USER_TOPIC_PREFIX))
        this.insertPersonal.run(topic.slice(USER_TOPIC_PREFIX.length), seq, expires);
      else this.insertShared.run(topic, seq, expires);
    }
  }

  readonly idle = (userId: string, topics: readonly string[]): boolean => {
    if (this.hasPersonal.get(userId) !== undefined) return false;
    for (const topic of topics) if (this.hasShared.get(topic) !== undefined) return false;
    return !this.prefixes.all().some((topic) => userId.startsWith(topic.slice(7)));
  };

  async personal(userId: string): Promise<readonly InboxEntry[]> {
    return this.personalOf.all(userId).map((row) => this.entryOf(row));
  }

  async shared(topics: readonly string[]): Promise<readonly InboxEntry[]> {
    return topics.flatMap((topic) => this.sharedOf.all(topic).map((row) => this.entryOf(row)));
  }

  async prefixTopics(): Promise<readonly string[]> {
    return this.prefixes.all();
  }

  async cursor(userId: string): Promise<InboxCursor> {
    const through = this.cursorOf.get(userId)?.through ?? null;
    return {
      through: through === null ? undefined : positionOf(this.options.epoch, through),
      acked: this.ackedOf.all(userId).map((row) => this.entryOf(row)),
    };
  }

  async messages(positions: readonly string[]): Promise<readonly (Message | undefined)[]> {
    return positions.map((pos) => {
      const seq = sequenceIn(pos, this.options.epoch);
      return seq === undefined ? undefined : this.messageOf(this.keptAt.get(seq));
    });
  }

  async find(ids: readonly string[]): Promise<readonly (Message | undefined)[]> {
    return ids.map((id) => {
      if (!isLogPosition(id)) return this.messageOf(this.keptById.get(id));
      const seq = sequenceIn(id, this.options.epoch);
      return seq === undefined ? undefined : this.messageOf(this.keptAt.get(seq));
    });
  }

  async change(userId: string, change: InboxChange): Promise<void> {
    const seqOf = (pos: string): number | undefined => sequenceIn(pos, this.options.epoch);
    this.db.transaction(() => {
      for (const entry of change.remove ?? []) {
        const seq = seqOf(entry.pos);
        if (seq !== undefined) this.removePersonal.run(userId, seq);
      }
      if (change.advance === undefined && change.ack === undefined && change.forget === undefined) return;
      const through = change.advance === undefined ? null : (seqOf(change.advance) ?? null);
      this.upsertCursor.run({ user: userId, through, moved: this.options.now() });
      for (const entry of change.forget ?? []) {
        const seq = seqOf(entry.pos);
        if (seq !== undefined) this.removeAcked.run(userId, seq);
      }
      for (const entry of change.ack ?? []) {
        const seq = seqOf(entry.pos);
        if (seq !== undefined) this.addAcked.run(userId, seq, entry.expiresAt);
      }
    })();
  }

  /**
   * Deletes expired rows in batches, yielding between them; a failing disk is retried at the next interval
   * (the log's pruner reports such failures).
   */
  sweep(): void {
    const now = this.options.now();
    const steps = this.sweepSteps.map((step) => () => step.run(now).changes);
    steps.push(() => this.sweepCursors.run(now - this.options.maxTtlMs).changes);
    const run = (i: number): void => {
      if (i >= steps.length) return;
      let deleted: number;
      try {
        deleted = (steps[i] as () => number)();
      } catch {
        return;
      }
      setImmediate(() => run(deleted === SWEEP_BATCH ? i : i + 1));
    };
    run(0);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private entryOf(row: EntryRow): InboxEntry {
    return { pos: positionOf(this.options.epoch, row.seq), expiresAt: row.expires };
  }

  private messageOf(row: KeptRow | undefined): Message | undefined {
    if (row === undefined) return undefined;
    return messageOf({
      pos: positionOf(this.options.epoch, row.seq),
      publisherId: row.pid,
      topics: JSON.parse(row.topics) as string[],
      event: row.event,
      data: row.data,
      json: row.json === 1,
      ts: row.ts,
      expiresAt: row.expires,
    });
  }
}
