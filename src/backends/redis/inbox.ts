import type { Redis } from 'ioredis';
import type { InboxChange, InboxCursor, InboxEntry, InboxTables } from '../../core/inbox.js';
import { type Message, messageOf } from '../../core/message.js';
import { LogUnavailableError } from '../../core/ports.js';
import { isLogPosition, splitPosition } from '../../protocol/position.js';
import { msOf } from './log.js';

/** Options of the cluster's inbox tables. */
export interface RedisInboxOptions {
  /** `<--redis-prefix>inbox:`: where the append script keeps inboxes (`inbox-keep.ts`). */
  readonly inboxPrefix: string;
  /** The log's epoch key: positions are `<epoch>-<stream id>`. */
  readonly epochKey: string;
  /** `--inbox-max-ttl`: a user's cursor expires this long after it last moved. */
  readonly maxTtlMs: number;
}

// Applies one user's change atomically. KEYS: personal entries, cursor, singly acknowledged.
// ARGV: expiry ms of the cursor and acknowledgements, then counted lists: entries to remove, the position
// to advance to ('' for none), acknowledgements to forget, acknowledgements to add.
const CHANGE = `
local function later(a, b)
  local da, db = string.find(a, '-', 1, true), string.find(b, '-', 1, true)
  local ma, mb = tonumber(string.sub(a, 1, da - 1)), tonumber(string.sub(b, 1, db - 1))
  if ma ~= mb then return ma > mb end
  return tonumber(string.sub(a, da + 1)) > tonumber(string.sub(b, db + 1))
end
local i = 2
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('ZREM', KEYS[1], ARGV[i]); i = i + 1 end
local advance = ARGV[i]; i = i + 1
if advance ~= '' then
  local current = redis.call('GET', KEYS[2])
  if (not current) or later(advance, current) then current = advance end
  redis.call('SET', KEYS[2], current, 'PX', ARGV[1])
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('ZREM', KEYS[3], ARGV[i]); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local member = ARGV[i]; i = i + 1
  redis.call('ZADD', KEYS[3], tonumber(string.sub(member, 1, string.find(member, '-', 1, true) - 1)), member)
end
if n > 0 then redis.call('PEXPIRE', KEYS[3], ARGV[1]) end
return 1
`;

interface InboxRedis extends Redis {
  heraldInboxChange(...args: (string | number)[]): Promise<number>;
}

/** The stored form of one kept message (see `inbox-keep.ts`). */
interface KeptBody {
  e: string;
  i: string;
  t: string;
  v: string;
  d: string;
  j: string;
  x: number;
}

/**
 * The cluster's inboxes in Redis, written by the log's append script (`inbox-keep.ts`) and read here. Each
 * read is one pipelined round trip (two for message bodies), on the log's command connection.
 */
export class RedisInboxTables implements InboxTables {
  private readonly redis: InboxRedis;
  private readonly ip: string;

  constructor(
    redis: Redis,
    private readonly options: RedisInboxOptions,
  ) {
    redis.defineCommand('heraldInboxChange', { numberOfKeys: 3, lua: CHANGE });
    this.redis = redis as InboxRedis;
    this.ip = options.inboxPrefix;
  }

  async personal(userId: string): Promise<readonly InboxEntry[]> {
    const [epoch, members] = await this.run((p) =>
      p.get(this.options.epochKey).zrange(`${this.ip}u:${userId}`, '0', '-1'),
    );
    return (members as string[]).map((member) => entryOf(epoch as string, member));
  }

  async shared(topics: readonly string[]): Promise<readonly InboxEntry[]> {
    const replies = await this.run((p) => {
      p.get(this.options.epochKey);
      for (const topic of topics) p.zrange(`${this.ip}t:${topic}`, '0', '-1');
      return p;
    });
    const epoch = replies[0] as string;
    return replies
      .slice(1)
      .flatMap((members) => (members as string[]).map((member) => entryOf(epoch, member)));
  }

  async prefixTopics(): Promise<readonly string[]> {
    const topicsKey = `${this.ip}topics`;
    const [topics] = (await this.run((p) => p.smembers(topicsKey))) as [string[]];
    if (topics.length === 0) return [];
    const exists = await this.run((p) => {
      for (const topic of topics) p.exists(`${this.ip}t:${topic}`);
      return p;
    });
    const gone = topics.filter((_, i) => exists[i] === 0);
    // A prefix whose entries all expired leaves the list.
    if (gone.length > 0) await this.redis.srem(topicsKey, ...gone).catch(() => {});
    return topics.filter((_, i) => exists[i] !== 0);
  }

  async cursor(userId: string): Promise<InboxCursor> {
    const [epoch, through, acked] = await this.run((p) =>
      p.get(this.options.epochKey).get(`${this.ip}c:${userId}`).zrange(`${this.ip}a:${userId}`, '0', '-1'),
    );
    return {
      through: through === null ? undefined : `${epoch}-${through}`,
      acked: (acked as string[]).map((member) => entryOf(epoch as string, member)),
    };
  }

  async messages(positions: readonly string[]): Promise<readonly (Message | undefined)[]> {
    if (positions.length === 0) return [];
    const keys = positions.map((pos) => `${this.ip}m:${splitPosition(pos)?.key ?? ''}`);
    const [bodies] = (await this.run((p) => p.mget(...keys))) as [(string | null)[]];
    return bodies.map((body, i) => messageOfBody(body, positions[i] as string));
  }

  async find(ids: readonly string[]): Promise<readonly (Message | undefined)[]> {
    if (ids.length === 0) return [];
    const pids = ids.filter((id) => !isLogPosition(id));
    const [resolved] =
      pids.length === 0
        ? [[]]
        : ((await this.run((p) => p.mget(...pids.map((pid) => `${this.ip}id:${pid}`)))) as [
            (string | null)[],
          ]);
    const streamIdOf = new Map(pids.map((pid, i) => [pid, (resolved as (string | null)[])[i] ?? null]));
    const streamIds = ids.map((id) =>
      isLogPosition(id) ? (splitPosition(id)?.key ?? null) : (streamIdOf.get(id) ?? null),
    );
    const [epoch, bodies] = await this.run((p) =>
      p.get(this.options.epochKey).mget(...streamIds.map((streamId) => `${this.ip}m:${streamId ?? ''}`)),
    );
    return (bodies as (string | null)[]).map((body, i) => {
      const streamId = streamIds[i];
      if (streamId === null || streamId === undefined) return undefined;
      const message = messageOfBody(body, `${epoch}-${streamId}`);
      // A position of an older epoch (Redis lost its data since) names nothing kept now.
      return isLogPosition(ids[i] as string) && ids[i] !== message?.pos ? undefined : message;
    });
  }

  async change(userId: string, change: InboxChange): Promise<void> {
    const args: (string | number)[] = [
      `${this.ip}u:${userId}`,
      `${this.ip}c:${userId}`,
      `${this.ip}a:${userId}`,
      this.options.maxTtlMs,
    ];
    const list = (entries: readonly InboxEntry[] | undefined): void => {
      args.push(entries?.length ?? 0);
      for (const entry of entries ?? []) args.push(memberOf(entry));
    };
    list(change.remove);
    args.push(change.advance === undefined ? '' : (splitPosition(change.advance)?.key ?? ''));
    list(change.forget);
    list(change.ack);
    try {
      await this.redis.heraldInboxChange(...args);
    } catch (error) {
      throw unavailable(error);
    }
  }

  /** Runs one pipeline; its replies in order, or `LogUnavailableError` when any command failed. */
  private async run(
    build: (pipeline: ReturnType<Redis['pipeline']>) => ReturnType<Redis['pipeline']>,
  ): Promise<unknown[]> {
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await build(this.redis.pipeline()).exec();
    } catch (error) {
      throw unavailable(error);
    }
    return (replies ?? []).map(([error, reply]) => {
      if (error !== null) throw unavailable(error);
      return reply;
    });
  }
}

/** An entry of a sorted set (`<ms>-<seq, 10 digits>-<expiry>`) as a position of `epoch`. */
function entryOf(epoch: string, member: string): InboxEntry {
  const [ms, seq, expires] = member.split('-');
  return { pos: `${epoch}-${ms}-${Number(seq)}`, expiresAt: Number(expires) };
}

/** The sorted-set member of an entry (the inverse of `entryOf`). */
function memberOf(entry: InboxEntry): string {
  const [, ms, seq] = entry.pos.split('-');
  return `${ms}-${(seq ?? '').padStart(10, '0')}-${entry.expiresAt}`;
}

function messageOfBody(body: string | null | undefined, pos: string): Message | undefined {
  if (body === null || body === undefined) return undefined;
  const kept = JSON.parse(body) as KeptBody;
  const streamId = splitPosition(pos)?.key ?? '';
  if (`${kept.e}-${streamId}` !== pos) return undefined;
  return messageOf({
    pos,
    publisherId: kept.i === '' ? null : kept.i,
    topics: JSON.parse(kept.t) as string[],
    event: kept.v === '' ? null : kept.v,
    data: kept.d,
    json: kept.j === '1',
    ts: msOf(streamId),
    expiresAt: kept.x,
  });
}

function unavailable(error: unknown): LogUnavailableError {
  return new LogUnavailableError(`Redis is unavailable: ${(error as Error).message}`);
}
