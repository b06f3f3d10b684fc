import type { Redis } from 'ioredis';
import type { NodeDirectory, NodeStats } from '../../core/ports.js';

// Stores this node's figures and returns every live node's, dropping nodes whose entry expired.
// KEYS: expiry zset, figures hash. ARGV: node, figures JSON, ttl ms. Time is Redis's, so nodes' clocks may differ.
const SHARE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('HDEL', KEYS[2], node)
  redis.call('ZREM', KEYS[1], node)
end
return redis.call('HVALS', KEYS[2])
`;

/** The cluster's nodes and their figures, in Redis: each node shares its own once per sampling interval. */
export class RedisNodeDirectory implements NodeDirectory {
  private peers: readonly NodeStats[] = [];
  private readonly expiryKey: string;
  private readonly figuresKey: string;

  constructor(
    private readonly redis: Redis,
    private readonly options: {
      readonly prefix: string;
      readonly nodeId: string;
      /** A node that stops sharing drops out after this long. */
      readonly ttlMs: number;
      readonly onError?: (error: unknown) => void;
    },
  ) {
    this.expiryKey = `${options.prefix}stats:expiry`;
    this.figuresKey = `${options.prefix}stats:figures`;
  }

  share(stats: NodeStats): void {
    const { nodeId, ttlMs } = this.options;
    (
      this.redis.eval(
        SHARE,
        2,
        this.expiryKey,
        this.figuresKey,
        nodeId,
        JSON.stringify(stats),
        ttlMs,
      ) as Promise<string[]>
    )
      .then((all) => {
        this.peers = all.map((json) => JSON.parse(json) as NodeStats).filter((peer) => peer.id !== nodeId);
      })
      .catch((error: unknown) => this.options.onError?.(error));
  }

  others(): readonly NodeStats[] {
    return this.peers;
  }

  async close(): Promise<void> {
    const { nodeId } = this.options;
    await this.redis
      .multi()
      .zrem(this.expiryKey, nodeId)
      .hdel(this.figuresKey, nodeId)
      .exec()
      .catch(() => {});
  }
}
