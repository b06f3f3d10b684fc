import { randomInt } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LogUnavailableError } from '../../core/ports.js';
import type { PresenceEvent, PresenceFeed, PresenceHistory } from '../../core/presence-events.js';
import { compareIds } from './log.js';

/** Options of the cluster's presence events. */
export interface RedisPresenceFeedOptions {
  /** `--redis-prefix`. */
  readonly prefix: string;
  /** How long a change must last before its event. */
  readonly debounceMs: number;
  /** Events kept for resuming (the stream's `MAXLEN ~`). */
  readonly history: number;
  readonly onError: (error: unknown) => void;
}

// Decides the presence events whose change lasted the debounce: the users noted in `pending` (by the
// presence scripts, presence.ts) that long ago, whose state in the cluster's counts differs from the last
// one told, get an event in the stream. Atomic, so of the nodes that run it each event is decided once.
// KEYS: pending zset, told hash (users told online), events stream, counts hash.
// ARGV: debounce ms, events kept. Returns the decided events: {id, event, user, connections, ts}.
const DECIDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, 100)
local out = {}
for _, user in ipairs(due) do
  redis.call('ZREM', KEYS[1], user)
  local n = tonumber(redis.call('HGET', KEYS[4], user) or '0')
  local state = 'offline'
  if n > 0 then state = 'online' end
  if (redis.call('HGET', KEYS[2], user) or 'offline') ~= state then
    local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'e', state, 'u', user, 'n', n, 't', now)
    if state == 'online' then redis.call('HSET', KEYS[2], user, 'online') else redis.call('HDEL', KEYS[2], user) end
    out[#out + 1] = {id, state, user, n, now}
  end
end
return out
`;

interface FeedRedis extends Redis {
  heraldPresenceDecide(...args: (string | number)[]): Promise<[string, string, string, number, number][]>;
}

type Entry = [id: string, fields: string[]];

const STREAM_ID = /^\d+-\d+$/;

/**
 * Presence events of the whole cluster. The presence scripts note each user whose cluster-wide count
 * went between zero and not; every node runs the decision script a few times per debounce, and the node
 * whose run decides an event appends it to a stream (`<prefix>presence:events`, ids are its stream ids)
 * and sends its webhook; every node tails the stream for its `GET /presence/events` clients.
 */
export class RedisPresenceFeed implements PresenceFeed {
  private readonly redis: FeedRedis;
  private readonly tail: Redis;
  private readonly keys: string[];
  private readonly listeners = new Set<(event: PresenceEvent) => void>();
  private readonly deciders: ((event: PresenceEvent) => void)[] = [];
  private readonly timer: NodeJS.Timeout;
  private deciding = false;
  private closed = false;
  private readonly tailing: Promise<void>;

  constructor(
    redis: Redis,
    private readonly options: RedisPresenceFeedOptions,
  ) {
    redis.defineCommand('heraldPresenceDecide', { numberOfKeys: 4, lua: DECIDE });
    this.redis = redis as FeedRedis;
    const p = `${options.prefix}presence:`;
    this.keys = [`${p}pending`, `${p}told`, `${p}events`, `${p}counts`];
    this.tail = redis.duplicate({ lazyConnect: true, commandTimeout: undefined });
    this.tail.on('error', () => {});
    const every = Math.max(50, Math.min(500, Math.floor(options.debounceMs / 4)));
    this.timer = setInterval(() => void this.decide(), every);
    this.timer.unref();
    this.tailing = this.tailLoop();
  }

  private get eventsKey(): string {
    return this.keys[2] as string;
  }

  async head(): Promise<string> {
    try {
      const last = (await this.redis.xrevrange(this.eventsKey, '+', '-', 'COUNT', 1)) as Entry[];
      return last[0]?.[0] ?? '0-0';
    } catch (error) {
      throw new LogUnavailableError(`Redis is unavailable: ${(error as Error).message}`);
    }
  }

  async after(id: string): Promise<PresenceHistory> {
    if (!STREAM_ID.test(id)) return { kind: 'gap' };
    let entries: Entry[];
    let head: string;
    try {
      entries = (await this.redis.xrange(
        this.eventsKey,
        id,
        '+',
        'COUNT',
        this.options.history + 1,
      )) as Entry[];
      head = await this.head();
    } catch (error) {
      throw new LogUnavailableError(`Redis is unavailable: ${(error as Error).message}`);
    }
    if (entries[0]?.[0] === id) return { kind: 'events', events: entries.slice(1).map(eventOf) };
    // Nothing after the head yet; anything else is not in the window (trimmed, or not this stream's).
    return id === head ? { kind: 'events', events: [] } : { kind: 'gap' };
  }

  compare(a: string, b: string): number {
    return compareIds(a, b);
  }

  listen(listener: (event: PresenceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onDecided(listener: (event: PresenceEvent) => void): void {
    this.deciders.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.tail.disconnect();
    await this.tailing.catch(() => {});
  }

  private async decide(): Promise<void> {
    if (this.deciding || this.closed) return;
    this.deciding = true;
    try {
      const decided = await this.redis.heraldPresenceDecide(
        ...this.keys,
        this.options.debounceMs,
        this.options.history,
      );
      for (const [id, event, user, connections, ts] of decided) {
        const presence: PresenceEvent = { id, event: event as PresenceEvent['event'], user, connections, ts };
        for (const decider of this.deciders) decider(presence);
      }
    } catch (error) {
      this.options.onError(error);
    } finally {
      this.deciding = false;
    }
  }

  /** Reads the event stream from its head at start, forever, in order; on failure backs off and resumes. */
  private async tailLoop(): Promise<void> {
    let cursor: string | null = null;
    let backoff = 100;
    while (!this.closed) {
      try {
        if (this.tail.status === 'wait') await this.tail.connect();
        cursor ??= await this.head();
        const reply = (await this.tail.xread(
          'COUNT',
          1000,
          'BLOCK',
          1000,
          'STREAMS',
          this.eventsKey,
          cursor,
        )) as [string, Entry[]][] | null;
        backoff = 100;
        for (const entry of reply?.[0]?.[1] ?? []) {
          if (this.closed) return;
          cursor = entry[0];
          const event = eventOf(entry);
          for (const listener of this.listeners) listener(event);
        }
      } catch (error) {
        if (this.closed) return;
        this.options.onError(error);
        await new Promise((resolve) => setTimeout(resolve, backoff + randomInt(0, 100)));
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }
}

function eventOf([id, fields]: Entry): PresenceEvent {
  const value: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) value[fields[i] as string] = fields[i + 1] as string;
  return {
    id,
    event: value.e === 'online' ? 'online' : 'offline',
    user: value.u ?? '',
    connections: Number(value.n ?? 0),
    ts: Number(value.t ?? 0),
  };
}
