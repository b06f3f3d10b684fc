import type { Redis } from 'ioredis';
import type { Hub } from '../../core/hub.js';
import {
  LogUnavailableError,
  type Presence,
  type PresenceSummary,
  type UserPage,
  type UserPresence,
} from '../../core/ports.js';

/** Options of the cluster-wide presence. */
export interface RedisPresenceOptions {
  /** Key prefix of the cluster (`--redis-prefix`). */
  readonly prefix: string;
  /** This node's id, unique in the cluster. */
  readonly nodeId: string;
  /** A node whose heartbeat is older than this drops out of every count (`--presence-ttl`). */
  readonly ttlMs: number;
  /** Told about failures to reach Redis (presence then resynchronises in full once it is back). */
  readonly onError?: (error: unknown) => void;
}

// Shared Lua: add `delta` connections of `user` to the cluster totals; drop dead nodes' contributions.
// KEYS of every script: nodes set, counts hash, users zset (lexicographic), connections counter.
// ARGV[1] of every script is the presence prefix. A user going online or offline in the cluster is noted
// in \`<prefix>pending\` with the time of the change, for its presence event once it lasted the debounce
// (presence-feed.ts); a later change restarts the wait.
const LIB = `
local function changed(user)
  local t = redis.call('TIME')
  redis.call('ZADD', ARGV[1] .. 'pending', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), user)
end
local function apply(user, delta)
  if delta == 0 then return end
  local total = redis.call('HINCRBY', KEYS[2], user, delta)
  redis.call('INCRBY', KEYS[4], delta)
  if total <= 0 then
    redis.call('HDEL', KEYS[2], user)
    redis.call('ZREM', KEYS[3], user)
    if total - delta > 0 then changed(user) end
  elseif total == delta then
    redis.call('ZADD', KEYS[3], 0, user)
    changed(user)
  end
end
local function drop(node, prefix)
  local hash = prefix .. 'node:' .. node
  local old = redis.call('HGETALL', hash)
  for i = 1, #old, 2 do apply(old[i], -tonumber(old[i + 1])) end
  redis.call('DEL', hash)
end
local function reap(prefix)
  for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    if redis.call('EXISTS', prefix .. 'alive:' .. node) == 0 then
      drop(node, prefix)
      redis.call('SREM', KEYS[1], node)
    end
  end
end
`;

// ARGV: prefix, node, ttl ms, full (1: replace this node's counts), then user, count pairs (absolute).
// Returns 0 when the node had dropped out (expired) and must send its full state.
const SYNC = `${LIB}
local prefix, node = ARGV[1], ARGV[2]
local hash = prefix .. 'node:' .. node
local alive = prefix .. 'alive:' .. node
local full = ARGV[4] == '1'
if not full and redis.call('EXISTS', alive) == 0 then return 0 end
if full then drop(node, prefix) end
for i = 5, #ARGV, 2 do
  local user, n = ARGV[i], tonumber(ARGV[i + 1])
  local before = tonumber(redis.call('HGET', hash, user) or '0')
  apply(user, n - before)
  if n > 0 then redis.call('HSET', hash, user, n) else redis.call('HDEL', hash, user) end
end
redis.call('SADD', KEYS[1], node)
redis.call('SET', alive, '1', 'PX', ARGV[3])
reap(prefix)
return 1
`;

// ARGV: prefix, node. Removes this node's counts at once (graceful shutdown).
const LEAVE = `${LIB}
drop(ARGV[2], ARGV[1])
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('DEL', ARGV[1] .. 'alive:' .. ARGV[2])
return 1
`;

// ARGV: prefix, mode ('summary' | 'user' | 'list'), then the mode's arguments.
const READ = `${LIB}
reap(ARGV[1])
if ARGV[2] == 'summary' then
  return {redis.call('HLEN', KEYS[2]), tonumber(redis.call('GET', KEYS[4]) or '0')}
elseif ARGV[2] == 'user' then
  return tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
end
local ids = redis.call('ZRANGEBYLEX', KEYS[3], ARGV[3], ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[2], id) or '0')
end
return out
`;

interface PresenceRedis extends Redis {
  heraldPresenceSync(...args: (string | number)[]): Promise<number>;
  heraldPresenceLeave(...args: (string | number)[]): Promise<number>;
  heraldPresenceRead(...args: (string | number)[]): Promise<unknown>;
}

/**
 * Presence of the whole cluster, kept in Redis. Each node writes its own connection count per user
 * (absolute values, batched per event-loop turn) into its hash and the cluster totals, and renews a
 * heartbeat key (`alive:<node>`, expiring after `ttlMs`) every `ttlMs / 3`. Every read first drops
 * the nodes whose heartbeat expired, subtracting what they contributed: a node that dies leaves the
 * counts at most `ttlMs` after its last heartbeat, with no manual cleanup. A node that was cut off
 * from Redis for longer resends its full state when it is back.
 */
export class RedisPresence implements Presence {
  private readonly redis: PresenceRedis;
  private readonly keys: string[];
  private readonly dirty = new Map<string, number>();
  private needsFull = true;
  private flushing: Promise<void> | null = null;
  private flushQueued = false;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  private readonly unwatch: () => void;

  constructor(
    redis: Redis,
    private readonly hub: Hub,
    private readonly options: RedisPresenceOptions,
  ) {
    redis.defineCommand('heraldPresenceSync', { numberOfKeys: 4, lua: SYNC });
    redis.defineCommand('heraldPresenceLeave', { numberOfKeys: 4, lua: LEAVE });
    redis.defineCommand('heraldPresenceRead', { numberOfKeys: 4, lua: READ, readOnly: false });
    this.redis = redis as PresenceRedis;
    const p = this.prefix;
    this.keys = [`${p}nodes`, `${p}counts`, `${p}users`, `${p}connections`];
    this.unwatch = hub.onUserChange((userId, connections) => {
      this.dirty.set(userId, connections);
      this.schedule();
    });
    this.heartbeat = setInterval(() => this.schedule(), Math.max(50, Math.floor(options.ttlMs / 3)));
    this.heartbeat.unref();
    this.schedule();
  }

  private get prefix(): string {
    return `${this.options.prefix}presence:`;
  }

  async summary(): Promise<PresenceSummary> {
    await this.settled();
    const [users, connections] = (await this.read('summary')) as [number, number];
    return { connections, users };
  }

  async listUsers(query: { prefix: string; limit: number; cursor?: string | undefined }): Promise<UserPage> {
    await this.settled();
    const { prefix, limit, cursor } = query;
    // User ids are ASCII up to '~', so DEL (0x7f) bounds every id that starts with the prefix.
    const min = cursor !== undefined && cursor >= prefix ? `(${cursor}` : `[${prefix}`;
    const max = `(${prefix}\x7f`;
    const flat = (await this.read('list', min, max, limit + 1)) as (string | number)[];
    const users: UserPresence[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const connections = Number(flat[i + 1]);
      users.push({ id: String(flat[i]), online: connections > 0, connections });
    }
    const page = users.slice(0, limit);
    return { users: page, nextCursor: users.length > limit ? page[page.length - 1]?.id : undefined };
  }

  async user(id: string): Promise<UserPresence> {
    await this.settled();
    const connections = Number(await this.read('user', id));
    return { id, online: connections > 0, connections };
  }

  /** Removes this node from the cluster's counts and stops the heartbeat. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.unwatch();
    await this.flushing?.catch(() => {});
    await this.redis.heraldPresenceLeave(...this.keys, this.prefix, this.options.nodeId).catch(() => {});
  }

  private async read(...args: (string | number)[]): Promise<unknown> {
    try {
      return await this.redis.heraldPresenceRead(...this.keys, this.prefix, ...args);
    } catch (error) {
      throw new LogUnavailableError(`Redis is unavailable: ${(error as Error).message}`);
    }
  }

  /** Resolves once this node's latest local changes are in Redis (so a node reads its own writes). */
  private async settled(): Promise<void> {
    for (let turns = 0; (this.flushing !== null || this.flushQueued) && turns < 100; turns++) {
      await (this.flushing ?? new Promise((resolve) => setImmediate(resolve)));
    }
  }

  private schedule(): void {
    if (this.closed || this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      if (this.flushing !== null) {
        // One flush at a time; the next starts when this one ends.
        void this.flushing.then(() => this.schedule());
        return;
      }
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
      });
    });
  }

  private async flush(): Promise<void> {
    const full = this.needsFull;
    const pairs: (string | number)[] = [];
    if (full) {
      for (const [userId, connections] of this.hub.onlineUsers()) pairs.push(userId, connections);
    } else {
      for (const [userId, connections] of this.dirty) pairs.push(userId, connections);
    }
    this.dirty.clear();
    const args = [...this.keys, this.prefix, this.options.nodeId, this.options.ttlMs, full ? '1' : '0'];
    try {
      const ok = await this.redis.heraldPresenceSync(...args, ...pairs);
      this.needsFull = ok !== 1;
      if (this.needsFull) this.schedule();
    } catch (error) {
      // Counts sent meanwhile may be lost: resend everything once Redis answers again.
      this.needsFull = true;
      this.options.onError?.(error);
    }
  }
}
