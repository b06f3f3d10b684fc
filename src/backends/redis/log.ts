import { randomInt } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { type Message, type MessageDraft, messageFromDraft, messageOf } from '../../core/message.js';
import { DuplicateIdError, type Log, LogUnavailableError, type Replay } from '../../core/ports.js';
import { StartupError } from '../../errors.js';
import { isLogPosition, keyOf, positionOf, splitPosition } from '../../protocol/position.js';
import type { Audience } from '../../protocol/topics.js';
import { redisClient, replicasOf } from './connection.js';
import { INBOX_KEEP } from './inbox-keep.js';

/** Options of the Redis Streams log. */
export interface RedisLogOptions {
  /** `redis://[user:password@]host:port/db`, `rediss://…` or `redis+sentinel://…` (see `connection.ts`). */
  readonly url: string;
  /** Prefix of every key, so several clusters can share one Redis. */
  readonly prefix: string;
  /** Messages kept for replay: `XADD … MAXLEN ~` (approximate: Redis keeps whole stream nodes). */
  readonly historySize: number;
  /** Milliseconds a message stays replayable, by Redis's clock; also how long a publisher id stays reserved. */
  readonly historyAgeMs: number;
  /** Called with tailing failures (once per outage) and recoveries; for the node's log. */
  readonly onTailEvent?: (event: TailEvent) => void;
}

/** What the tailing loop reports. */
export type TailEvent =
  | { readonly kind: 'lost'; readonly error: Error }
  | { readonly kind: 'resumed'; readonly after: string }
  | { readonly kind: 'reset'; readonly epoch: string }
  /** Redis no longer holds messages this node read or appended (a failover to a replica that was behind). */
  | { readonly kind: 'rolled-back'; readonly epoch: string; readonly missing: string };

/** Milliseconds a command may take before the log counts Redis as unreachable. */
const COMMAND_TIMEOUT_MS = 2000;
/** Milliseconds one blocking `XREAD` waits, so a dead socket is noticed within a few of them. */
const BLOCK_MS = 1000;
const MAX_BACKOFF_MS = 2000;
/** Longest a publish waits for its replicas (`?replicas=`), under the command timeout. */
const WAIT_MS = 1000;
/** Appended ids kept for the tail to check off; past this many (a tail far behind) the oldest go unchecked. */
const MAX_UNSEEN = 10_000;

// The stream's last issued id, its first retained id ('' when empty) and how many entries were trimmed.
const STREAM_STATE = `
local function state(stream)
  if redis.call('EXISTS', stream) == 0 then return '0-0', '', 0 end
  local info = redis.call('XINFO', 'STREAM', stream)
  local last, first, added, length = '0-0', '', 0, 0
  for i = 1, #info, 2 do
    local k = info[i]
    if k == 'last-generated-id' then last = info[i + 1]
    elseif k == 'recorded-first-entry-id' then first = info[i + 1]
    elseif k == 'entries-added' then added = info[i + 1]
    elseif k == 'length' then length = info[i + 1] end
  end
  if length == 0 then first = '' end
  return last, first, added - length
end
`;

// The stream's epoch (KEYS[2]), created from the candidate in ARGV[1] on first use or after Redis lost its
// data, with where it starts in the stream (KEYS[3]): after what the stream still holds, if anything.
// Needs STREAM_STATE.
const EPOCH = `
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
  redis.call('SET', KEYS[3], (state(KEYS[1])))
end
`;

// Creates the epoch on first use (or after Redis lost its data), checks publisher ids, appends, trims, and
// keeps messages with a ttl in their users' inboxes (INBOX_KEEP, see inbox.ts): all or nothing.
// KEYS: stream, epoch, epoch start. ARGV: epoch candidate, maxlen, age ms, pid key prefix, count, inbox key
// prefix, then 6 per message (pid, topics, event, data, json, ttl ms or '').
const APPEND = `${STREAM_STATE}${EPOCH}${INBOX_KEEP}local n = tonumber(ARGV[5])
local seen = {}
for i = 0, n - 1 do
  local pid = ARGV[7 + i * 6]
  if pid ~= '' then
    if seen[pid] or redis.call('EXISTS', ARGV[4] .. pid) == 1 then return {'dup', pid} end
    seen[pid] = true
  end
end
local ids = {}
for i = 0, n - 1 do
  local base = 7 + i * 6
  local pid = ARGV[base]
  local fields = {'e', epoch, 't', ARGV[base + 1], 'd', ARGV[base + 3]}
  if ARGV[base + 2] ~= '' then fields[#fields + 1] = 'v'; fields[#fields + 1] = ARGV[base + 2] end
  if pid ~= '' then fields[#fields + 1] = 'i'; fields[#fields + 1] = pid end
  if ARGV[base + 4] ~= '' then fields[#fields + 1] = 'j'; fields[#fields + 1] = '1' end
  if ARGV[base + 5] ~= '' then fields[#fields + 1] = 'l'; fields[#fields + 1] = ARGV[base + 5] end
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
  if pid ~= '' then redis.call('SET', ARGV[4] .. pid, epoch .. '-' .. id, 'PX', ARGV[3]) end
  if ARGV[base + 5] ~= '' then
    keep_inbox(ARGV[6], epoch, id, pid, ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4], tonumber(ARGV[base + 5]))
  end
  ids[#ids + 1] = id
end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])
if cutoff > 0 then redis.call('XTRIM', KEYS[1], 'MINID', '~', cutoff) end
return {epoch, ids}
`;

// KEYS: stream, epoch, epoch start. ARGV: epoch candidate. Returns {epoch, last id, the epoch's start}.
const HEAD = `${STREAM_STATE}${EPOCH}local last = state(KEYS[1])
return {epoch, last, redis.call('GET', KEYS[3]) or '0-0'}
`;

// Stream ids '<ms>-<seq>': true when a comes before b.
const BEFORE = `
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then return am < bm end
  return tonumber(as) < tonumber(bs)
end
`;

// Checks that the stream still holds the entries ARGV[3..] of epoch ARGV[2], which this node read or
// appended. One that is gone though trimming did not take it (it is after the first entry kept, or after
// the last id the stream ever issued) was lost: a failover promoted a replica that had not received it,
// or Redis restarted without its last writes. Then a new epoch (ARGV[1]) starts after what the stream
// holds, so every older id is answered with a gap instead of a replay that silently lacks it.
// KEYS: stream, epoch, epoch start. Returns {epoch, its start, the id found missing or ''}.
const VERIFY = `${STREAM_STATE}${BEFORE}${EPOCH}if epoch ~= ARGV[2] then return {epoch, redis.call('GET', KEYS[3]) or '0-0', ''} end
local last, first = state(KEYS[1])
for i = 3, #ARGV do
  local id = ARGV[i]
  if (before(last, id) or (first ~= '' and not before(id, first))) and #redis.call('XRANGE', KEYS[1], id, id) == 0 then
    redis.call('SET', KEYS[2], ARGV[1])
    redis.call('SET', KEYS[3], last)
    return {ARGV[1], last, id}
  end
end
return {epoch, redis.call('GET', KEYS[3]) or '0-0', ''}
`;

// \`addressedTo\` of src/protocol/topics.ts, on a message's topics field (JSON), for one user and its groups.
const ADDRESSED_TO = `
local function addressed(field, user, groups)
  for _, topic in ipairs(cjson.decode(field)) do
    if topic == 'all' then return true end
    local colon = string.find(topic, ':', 1, true)
    local kind, name
    if colon then kind, name = string.sub(topic, 1, colon - 1), string.sub(topic, colon + 1)
    else kind, name = string.sub(topic, 1, -2), topic end
    if kind == 'user' and name == user then return true end
    if kind == 'group' and groups[name] then return true end
    if kind == 'prefix' and string.sub(user, 1, #name) == name then return true end
  end
  return false
end
`;

// Scans up to ARGV[2] entries after ARGV[1] and returns only those addressed to the audience, at most
// ARGV[3], so other messages' payloads never leave Redis.
// KEYS: stream, epoch, epoch start. ARGV: epoch candidate, after (stream id), scan count, limit, user id, then the user's groups.
// Returns {epoch or '', last id, first id, trimmed count, now ms, id of the first entry scanned or '',
// id of the last one (else ARGV[1]), 1 when more entries remain, 1 when an entry of another epoch was
// scanned, the epoch's start, the matching entries}.
const READ = `${STREAM_STATE}${ADDRESSED_TO}${EPOCH}local last, first, trimmed = state(KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local entries = {}
if last ~= '0-0' then entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', ARGV[3]) end
local limit, user, groups = tonumber(ARGV[4]), ARGV[5], {}
for i = 6, #ARGV do groups[ARGV[i]] = true end
local matched, scanned, foreign = {}, 0, 0
while scanned < #entries and #matched < limit do
  scanned = scanned + 1
  local entry = entries[scanned]
  local fields, topics = entry[2], '[]'
  for i = 1, #fields, 2 do
    if fields[i] == 'e' and fields[i + 1] ~= epoch then foreign = 1 end
    if fields[i] == 't' then topics = fields[i + 1] end
  end
  if addressed(topics, user, groups) then matched[#matched + 1] = entry end
end
local firstScanned, lastScanned = '', ARGV[2]
if scanned > 0 then firstScanned, lastScanned = entries[1][1], entries[scanned][1] end
local more = 0
if scanned < #entries or #entries == tonumber(ARGV[3]) then more = 1 end
return {epoch, last, first, trimmed, tostring(now), firstScanned, lastScanned, more, foreign, redis.call('GET', KEYS[3]) or '0-0', matched}
`;

type Entry = [id: string, fields: string[]];

type ReadReply = [
  epoch: string,
  last: string,
  first: string,
  trimmed: number,
  now: string,
  firstScanned: string,
  lastScanned: string,
  more: number,
  foreign: number,
  start: string,
  matched: Entry[],
];

interface ScriptedRedis extends Redis {
  heraldAppend(...args: (string | number)[]): Promise<[string, string | string[]]>;
  heraldHead(...args: (string | number)[]): Promise<[epoch: string, last: string, start: string]>;
  heraldRead(...args: (string | number)[]): Promise<ReadReply>;
  heraldVerify(...args: string[]): Promise<[epoch: string, start: string, missing: string]>;
}

/**
 * The clustered log: one Redis stream that every node appends to and tails.
 *
 * - `append` is one Lua script (`XADD` with `MAXLEN ~` trimming, publisher-id reservation with `SET … PX`,
 *   age trimming with `XTRIM MINID ~`), so a message is accepted atomically or not at all, and only once
 *   Redis answered. Redis unreachable: `LogUnavailableError` (HTTP 503), never a silent drop.
 * - `readAfter` matches on the server: its script returns only the entries addressed to the audience, so a
 *   replay page never carries the payloads of the messages it scanned past.
 * - Every node tails the stream with a blocking `XREAD` on a connection of its own and hands each entry
 *   to the listener in stream order; when Redis is unreachable it retries with backoff and resumes after
 *   the last entry it delivered, so nothing appended meanwhile by other nodes is skipped.
 * - Positions are `<epoch>-<ms>-<seq>`: the stream id (Redis's clock, one order for the whole cluster)
 *   prefixed with an epoch kept in Redis. A Redis that lost its data (restarted without persistence)
 *   gets a new epoch, so every older id is answered with a `gap`, never with a wrong replay.
 * - A Redis that kept its data but lost its latest entries (Sentinel promoted a replica that had not
 *   received them yet; a restart without fsync) is noticed by the node that read or appended one: its
 *   tail checks, on reconnecting and whenever it reads past an id this node appended, that the stream
 *   still holds them, and when one is gone starts a new epoch after what the stream holds (`VERIFY`).
 *   Every node moves to it at its next read, so clients are told of the loss with a `gap`.
 *
 * Needs Redis 7.0 or later (`XINFO STREAM` reports `entries-added` and `recorded-first-entry-id`).
 */
export class RedisLog implements Log {
  /** The command connection; shared with the cluster's presence. */
  readonly redis: ScriptedRedis;
  private readonly tailRedis: ScriptedRedis;
  /** The keys every script is called with: the stream, its epoch, and where that epoch starts in it. */
  private readonly keys: readonly [stream: string, epoch: string, epochStart: string];
  private readonly pidPrefix: string;
  /** Replicas that must have a message before it is acknowledged (`?replicas=` of the URL). */
  private readonly replicas: number;
  /** Prefix of the inbox keys the append script writes (`inbox.ts`). */
  readonly inboxPrefix: string;
  private listener: ((message: Message) => void) | null = null;
  private onRestart: ((start: string) => void) | null = null;
  /** The last epoch the listener was told the log restarted in. */
  private announcedEpoch: string | null = null;
  /** Stream id after which the tail reads next. */
  private cursor: string | null = null;
  private tailEpoch: string | null = null;
  /** Epochs the tail moved on from (a few per lifetime: one per loss of Redis's data). */
  private readonly leftEpochs = new Set<string>();
  /** Counts the tail's moves to a new epoch, so a read begun before one is not delivered after it. */
  private tailMoves = 0;
  /**
   * Stream ids of `tailEpoch` this node appended that its tail has not read yet, in order: one the tail
   * reads past without meeting was lost (or trimmed, which `VERIFY` tells apart).
   */
  private unseen: string[] = [];
  private tailHealthy = true;
  /** Set once connected: from then on, a Sentinel URL whose sentinels are all unreachable is retried. */
  private started = false;
  /** The first error of a connection before `started` (ioredis's own rejection only says it closed). */
  private connectError: Error | undefined;
  private closed = false;
  private tailing: Promise<void> | null = null;

  private constructor(private readonly options: RedisLogOptions) {
    const common: RedisOptions = {
      lazyConnect: true,
      protocol: 2,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times) => Math.min(50 * 2 ** times, MAX_BACKOFF_MS),
      // No sentinel answers: at start, fail (the node says so and exits); later, keep asking them.
      sentinelRetryStrategy: (times) => (this.started ? Math.min(50 * 2 ** times, MAX_BACKOFF_MS) : null),
    };
    this.redis = scripted(redisClient(options.url, { ...common, commandTimeout: COMMAND_TIMEOUT_MS }));
    this.tailRedis = scripted(redisClient(options.url, { ...common, socketTimeout: BLOCK_MS * 3 }));
    // Connections retry on their own; what failed first is kept for the start's error message.
    for (const client of [this.redis, this.tailRedis])
      client.on('error', (error: Error) => {
        if (!this.started) this.connectError ??= error;
      });
    this.keys = [`${options.prefix}log`, `${options.prefix}epoch`, `${options.prefix}epoch-start`];
    this.pidPrefix = `${options.prefix}id:`;
    this.replicas = replicasOf(options.url);
    this.inboxPrefix = `${options.prefix}inbox:`;
  }

  /** The key of the log's epoch (read by the inbox tables to name positions). */
  get epochKeyName(): string {
    return this.keys[1];
  }

  /** Connects to Redis (failing fast when it cannot be reached) and checks its version. */
  static async connect(options: RedisLogOptions): Promise<RedisLog> {
    if (options.historySize < 1) throw new RangeError('historySize must be at least 1');
    const log = new RedisLog(options);
    try {
      await Promise.all([log.redis.connect(), log.tailRedis.connect()]);
      const info = await log.redis.info('server');
      const version = /redis_version:(\d+)/.exec(info)?.[1];
      if (version !== undefined && Number(version) < 7) {
        throw new StartupError(`Redis ${version} is too old: Herald needs Redis 7.0 or later`);
      }
    } catch (error) {
      log.redis.disconnect();
      log.tailRedis.disconnect();
      throw new StartupError(`cannot use Redis: ${(log.connectError ?? (error as Error)).message}`);
    }
    log.started = true;
    return log;
  }

  /** True while both connections are up and the tail is reading: the node's readiness. */
  get available(): boolean {
    return !this.closed && this.redis.status === 'ready' && this.tailHealthy;
  }

  append(draft: MessageDraft): Promise<Message> {
    return this.appendMany([draft]).then((messages) => messages[0] as Message);
  }

  async appendMany(drafts: readonly MessageDraft[]): Promise<Message[]> {
    if (drafts.length === 0) return [];
    if (this.closed) throw new LogUnavailableError('the Redis log is closed');
    const args: (string | number)[] = [
      ...this.keys,
      newEpoch(),
      this.options.historySize,
      this.options.historyAgeMs,
      this.pidPrefix,
      drafts.length,
      this.inboxPrefix,
    ];
    for (const draft of drafts) {
      args.push(
        draft.id ?? '',
        JSON.stringify(draft.topics),
        draft.event ?? '',
        draft.data,
        draft.json ? '1' : '',
        draft.ttlMs === undefined ? '' : draft.ttlMs,
      );
    }
    let reply: [string, string | string[]];
    try {
      reply = await this.redis.heraldAppend(...args);
    } catch (error) {
      throw unavailable(error);
    }
    const [epoch, ids] = reply;
    if (epoch === 'dup') throw new DuplicateIdError(ids as string);
    this.expectInTail(epoch, ids as string[]);
    if (this.replicas > 0) await this.replicated();
    return drafts.map((draft, i) => {
      const streamId = (ids as string[])[i] as string;
      return messageFromDraft(draft, positionOf(epoch, streamId), msOf(streamId));
    });
  }

  /**
   * Waits until `replicas` replicas have everything this connection wrote (Redis `WAIT`), so an
   * acknowledged publish survives a failover to any of them; fewer within `WAIT_MS` is a 503. The message
   * is on the primary then, and may be delivered: an outcome unknown to the publisher, which retries with
   * its `id`.
   */
  private async replicated(): Promise<void> {
    let acknowledged: number;
    try {
      acknowledged = await this.redis.wait(this.replicas, WAIT_MS);
    } catch (error) {
      throw unavailable(error);
    }
    if (acknowledged < this.replicas)
      throw new LogUnavailableError(
        `Redis replicated the message to ${acknowledged} of the ${this.replicas} replicas asked for`,
      );
  }

  async head(): Promise<string> {
    let epoch: string;
    let last: string;
    try {
      [epoch, last] = await this.redis.heraldHead(...this.keys, newEpoch());
    } catch (error) {
      throw unavailable(error);
    }
    // The tail starts exactly where the caller's view of the log starts.
    if (this.tailing === null) {
      this.cursor = last;
      this.tailEpoch = epoch;
    }
    return positionOf(epoch, last);
  }

  tail(listener: (message: Message) => void, onRestart?: (start: string) => void): void {
    this.listener = listener;
    this.onRestart = onRestart ?? null;
    this.tailing ??= this.tailLoop();
  }

  async readAfter(id: string, audience: Audience, limit: number): Promise<Replay> {
    let position = id;
    if (!isLogPosition(id)) {
      let resolved: string | null;
      try {
        resolved = await this.redis.get(this.pidPrefix + id);
      } catch (error) {
        throw unavailable(error);
      }
      if (resolved === null) {
        // Maybe the log lost its history (and the id with it): notice a new epoch before answering, so the
        // gap resumes from the new log rather than from a position of the old one (a second gap).
        await this.noticeNewEpoch();
        return { kind: 'gap', reason: 'unknown-id' };
      }
      position = resolved;
    }
    const parsed = parsePosition(position);
    if (parsed === undefined) return { kind: 'gap', reason: 'unknown-id' };
    let reply: ReadReply;
    try {
      reply = await this.redis.heraldRead(
        ...this.keys,
        newEpoch(),
        parsed.streamId,
        limit * 16,
        limit,
        audience.userId,
        ...audience.groups,
      );
    } catch (error) {
      throw unavailable(error);
    }
    const [epoch, last, first, trimmed, now, firstScanned, lastScanned, more, foreign, start, matched] =
      reply;
    // A read can see that Redis lost its data before this node's tail does (it waits out a backoff).
    if (this.tailEpoch !== null && epoch !== this.tailEpoch) this.moveToEpoch(epoch, start);
    if (epoch !== parsed.epoch || compareIds(parsed.streamId, last) > 0) {
      return { kind: 'gap', reason: 'unknown-id' };
    }
    // Trimming removes the oldest entries: when some were trimmed and `id` is older than the first one left,
    // what followed `id` may be gone. (Conservative by at most one entry: the last trimmed one itself.)
    const beforeFirst =
      first === '' ? compareIds(parsed.streamId, last) < 0 : compareIds(parsed.streamId, first) < 0;
    if (trimmed > 0 && beforeFirst) return { kind: 'gap', reason: 'expired' };
    if (firstScanned !== '' && msOf(firstScanned) < Number(now) - this.options.historyAgeMs) {
      return { kind: 'gap', reason: 'expired' };
    }
    // An entry of another epoch: the epoch key was lost while the stream was kept.
    if (foreign === 1) return { kind: 'gap', reason: 'unknown-id' };
    // Read in the same script as `last`: with nothing more, the read covered the stream through it.
    const through = positionOf(epoch, more === 1 ? lastScanned : last);
    return {
      kind: 'messages',
      messages: matched.map(entryMessage),
      through,
      next: more === 1 ? through : undefined,
    };
  }

  comparePositions(a: string, b: string): number {
    return compareIds(keyOf(a), keyOf(b));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listener = null;
    this.tailRedis.disconnect();
    await this.tailing?.catch(() => {});
    await this.redis.quit().catch(() => {});
    // `quit` leaves a Sentinel connection's failover detector subscribed to the sentinels; this ends it.
    this.redis.disconnect();
  }

  /** Reads the stream after `cursor` forever, in order; on failure backs off and resumes from the cursor. */
  private async tailLoop(): Promise<void> {
    let backoff = 100;
    let lost = false;
    let checkEpoch = this.cursor === null;
    while (!this.closed) {
      try {
        if (checkEpoch) {
          await this.checkEpoch();
          checkEpoch = false;
        }
        const moves = this.tailMoves;
        const reply = (await this.tailRedis.xread(
          'COUNT',
          1000,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          this.keys[0],
          this.cursor ?? '0-0',
        )) as [string, Entry[]][] | null;
        if (lost) {
          lost = false;
          this.options.onTailEvent?.({ kind: 'resumed', after: this.cursor ?? '0-0' });
        }
        this.tailHealthy = true;
        backoff = 100;
        for (const entry of reply?.[0]?.[1] ?? []) {
          if (this.closed) return;
          if (this.unseen.length > 0 && compareIds(this.unseen[0] as string, entry[0]) <= 0) {
            await this.checkUnseenBefore(entry[0]);
          }
          // Moved to a new epoch meanwhile (by a read, or the check above): read again from its start.
          if (this.tailMoves !== moves) break;
          // The first entry of an epoch another node started: it begins right after the cursor.
          const epoch = entryEpoch(entry);
          if (epoch !== this.tailEpoch) this.moveToEpoch(epoch, this.cursor ?? '0-0', false);
          this.cursor = entry[0];
          this.listener?.(entryMessage(entry));
        }
      } catch (error) {
        if (this.closed) return;
        this.tailHealthy = false;
        checkEpoch = true;
        if (!lost) {
          lost = true;
          this.options.onTailEvent?.({ kind: 'lost', error: error as Error });
        }
        await new Promise((resolve) => setTimeout(resolve, backoff + randomInt(0, 100)));
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /** Reads the log's epoch and, when it is not the one this node tails, moves to it. */
  private async noticeNewEpoch(): Promise<void> {
    let epoch: string;
    let start: string;
    try {
      [epoch, , start] = await this.redis.heraldHead(...this.keys, newEpoch());
    } catch (error) {
      throw unavailable(error);
    }
    if (this.tailEpoch !== null && epoch !== this.tailEpoch) this.moveToEpoch(epoch, start);
  }

  /**
   * The log goes on in `epoch` from stream id `start`: the tail reads on from there (when `seek`; else it
   * is already there), and the listener is told, once per epoch, that the log restarted at that position.
   */
  private moveToEpoch(epoch: string, start: string, seek = true): void {
    // Never back: an epoch this node left can only come from a primary that was demoted meanwhile (a
    // connection that had not yet followed a failover), and reading it again would repeat messages.
    if (this.leftEpochs.has(epoch)) return;
    if (epoch !== this.tailEpoch) {
      if (this.tailEpoch !== null) this.leftEpochs.add(this.tailEpoch);
      this.tailEpoch = epoch;
      this.unseen = [];
      this.tailMoves++;
      if (seek) this.cursor = start;
    }
    if (epoch === this.announcedEpoch) return;
    this.announcedEpoch = epoch;
    this.onRestart?.(positionOf(epoch, start));
  }

  /** After a reconnect: a new epoch (Redis lost its data) is read from its start; else check what was read. */
  private async checkEpoch(): Promise<void> {
    const [epoch, last, start] = await this.tailRedis.heraldHead(...this.keys, newEpoch());
    if (this.tailEpoch === null || this.cursor === null) {
      this.tailEpoch = epoch;
      this.cursor = last;
      return;
    }
    if (epoch !== this.tailEpoch) {
      this.options.onTailEvent?.({ kind: 'reset', epoch });
      this.moveToEpoch(epoch, start);
      return;
    }
    // Same epoch, maybe another primary (a failover): does it still hold what this node read and appended?
    const read = this.cursor === '0-0' ? [] : [this.cursor];
    await this.verify([...read, ...this.unseen]);
  }

  /** The tail reached `streamId`: ids this node appended before it, and not read, must be gone. */
  private async checkUnseenBefore(streamId: string): Promise<void> {
    const missed: string[] = [];
    while (this.unseen.length > 0 && compareIds(this.unseen[0] as string, streamId) <= 0) {
      const id = this.unseen.shift() as string;
      if (id !== streamId) missed.push(id);
    }
    if (missed.length > 0) await this.verify(missed);
  }

  /** Checks that the stream holds `ids` (of the tail's epoch); moves to the new epoch when it lost one. */
  private async verify(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const known = this.tailEpoch as string;
    const [epoch, start, missing] = await this.tailRedis.heraldVerify(
      ...this.keys,
      newEpoch(),
      known,
      ...ids,
    );
    if (epoch === known) return;
    if (missing !== '') this.options.onTailEvent?.({ kind: 'rolled-back', epoch, missing });
    else this.options.onTailEvent?.({ kind: 'reset', epoch });
    this.moveToEpoch(epoch, start);
  }

  /** Appended ids of the tail's epoch that the tail has not reached yet: it checks them off as it reads. */
  private expectInTail(epoch: string, ids: readonly string[]): void {
    if (this.tailing === null || epoch !== this.tailEpoch) return;
    for (const id of ids) {
      if (this.cursor !== null && compareIds(id, this.cursor) <= 0) continue;
      const last = this.unseen.at(-1);
      this.unseen.push(id);
      // Replies come in the order Redis ran the appends; only a reconnect in between could reorder them.
      if (last !== undefined && compareIds(last, id) > 0) this.unseen.sort(compareIds);
    }
    if (this.unseen.length > MAX_UNSEEN) this.unseen.splice(0, this.unseen.length - MAX_UNSEEN);
  }
}

function scripted(client: Redis): ScriptedRedis {
  client.defineCommand('heraldAppend', { numberOfKeys: 3, lua: APPEND });
  client.defineCommand('heraldHead', { numberOfKeys: 3, lua: HEAD });
  client.defineCommand('heraldRead', { numberOfKeys: 3, lua: READ });
  client.defineCommand('heraldVerify', { numberOfKeys: 3, lua: VERIFY });
  return client as ScriptedRedis;
}

/** The epoch an entry was appended in: its first field, as `APPEND` writes it. */
function entryEpoch([, fields]: Entry): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'e') return fields[i + 1] as string;
  return '';
}

function entryMessage([streamId, fields]: Entry): Message {
  let epoch = '';
  let topics: string[] = [];
  let data = '';
  let event: string | undefined;
  let publisherId: string | undefined;
  let json = false;
  let ttlMs: number | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    const value = fields[i + 1] as string;
    switch (fields[i]) {
      case 'e':
        epoch = value;
        break;
      case 't':
        topics = JSON.parse(value) as string[];
        break;
      case 'd':
        data = value;
        break;
      case 'v':
        event = value;
        break;
      case 'i':
        publisherId = value;
        break;
      case 'j':
        json = true;
        break;
      case 'l':
        ttlMs = Number(value);
        break;
    }
  }
  const ts = msOf(streamId);
  return messageOf({
    pos: positionOf(epoch, streamId),
    publisherId,
    topics,
    event,
    data,
    json,
    ts,
    expiresAt: ttlMs === undefined ? undefined : ts + ttlMs,
  });
}

/**
 * A fresh epoch candidate: ten random digits, the first non-zero (positions start with a digit: see
 * `protocol/position.ts`). Random rather than from the clock: every node offers one on every call, and
 * the script keeps the first stored.
 */
function newEpoch(): string {
  return String(randomInt(1_000_000_000, 9_999_999_999));
}

/** A position of this log, `<epoch>-<ms>-<seq>`: its epoch and stream id; undefined for anything else. */
function parsePosition(position: string): { epoch: string; streamId: string } | undefined {
  const split = splitPosition(position);
  return split === undefined || !STREAM_ID.test(split.key)
    ? undefined
    : { epoch: split.epoch, streamId: split.key };
}

const STREAM_ID = /^\d+-\d+$/;

export function msOf(streamId: string): number {
  return Number(streamId.slice(0, streamId.indexOf('-')));
}

/** Orders two stream ids `<ms>-<seq>`. */
export function compareIds(a: string, b: string): number {
  const dashA = a.indexOf('-');
  const dashB = b.indexOf('-');
  const ms = Number(a.slice(0, dashA)) - Number(b.slice(0, dashB));
  return ms !== 0 ? ms : Number(a.slice(dashA + 1)) - Number(b.slice(dashB + 1));
}

function unavailable(error: unknown): LogUnavailableError {
  return new LogUnavailableError(`Redis is unavailable: ${(error as Error).message}`);
}
