import { HeraldError, Problems } from '../errors.js';

/** Connection limits; 0 means no limit. Defaults and reasons: `config.ts` and `docs/security.md`. */
export interface ConnectionLimitOptions {
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly maxConnectionsPerUser: number;
  /** `Retry-After` of a refusal, in seconds. */
  readonly retryAfterSeconds: number;
}

/**
 * Counts open streams per client address, per user and in all, and refuses one more past a limit.
 * Only authenticated streams are counted: a refused token never takes a slot.
 */
export class ConnectionLimits {
  private readonly byIp = new Map<string, number>();
  private readonly byUser = new Map<string, number>();
  private total = 0;

  constructor(private readonly options: ConnectionLimitOptions) {}

  /** Open streams counted now. */
  get size(): number {
    return this.total;
  }

  /** Takes a slot for a stream, or throws 429 (per address, per user) or 503 (node full); returns its release. */
  acquire(ip: string, userId: string): () => void {
    this.take(ip, userId);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(ip, userId);
    };
  }

  /**
   * Takes a slot, or throws like `acquire`; the caller must `release` it exactly once with the same
   * arguments. For holders that keep their own once-only flag (a stream keeps no closure for it).
   */
  take(ip: string, userId: string): void {
    const { maxConnections, maxConnectionsPerIp, maxConnectionsPerUser, retryAfterSeconds } = this.options;
    const retryAfter = retryAfterSeconds;
    if (maxConnections > 0 && this.total >= maxConnections) {
      throw new HeraldError(
        Problems.serverFull,
        `this node holds its maximum of ${maxConnections} connections; retry later or elsewhere`,
        { retryAfter, limit: maxConnections },
      );
    }
    const ipCount = this.byIp.get(ip) ?? 0;
    if (maxConnectionsPerIp > 0 && ipCount >= maxConnectionsPerIp) {
      throw new HeraldError(
        Problems.tooManyConnections,
        `address ${ip} already has ${ipCount} open connections (limit ${maxConnectionsPerIp})`,
        { retryAfter, limit: maxConnectionsPerIp, scope: 'ip' },
      );
    }
    const userCount = this.byUser.get(userId) ?? 0;
    if (maxConnectionsPerUser > 0 && userCount >= maxConnectionsPerUser) {
      throw new HeraldError(
        Problems.tooManyConnections,
        `user "${userId}" already has ${userCount} open connections (limit ${maxConnectionsPerUser})`,
        { retryAfter, limit: maxConnectionsPerUser, scope: 'user' },
      );
    }
    this.total++;
    this.byIp.set(ip, ipCount + 1);
    this.byUser.set(userId, userCount + 1);
  }

  /** Frees a slot taken by `take`. */
  release(ip: string, userId: string): void {
    this.total--;
    decrement(this.byIp, ip);
    decrement(this.byUser, userId);
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 1) - 1;
  if (count <= 0) counts.delete(key);
  else counts.set(key, count);
}

/** Publish rate limit: a token bucket per publisher, refilled continuously. */
export interface RateOptions {
  /** Messages per second sustained; 0 disables the limit. */
  readonly ratePerSecond: number;
  /** Bucket size: messages that may go at once. */
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Most idle buckets kept before full ones are forgotten (a full bucket is the same as no bucket). */
const MAX_BUCKETS = 10_000;

/**
 * A token bucket per publisher id. A full bucket admits any batch (its balance may go negative, so a
 * batch larger than the burst is slowed, never refused forever); otherwise a publish that would take
 * more than the balance gets 429 with the seconds until it fits.
 */
export class PublishRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly options: RateOptions) {}

  /** Charges `cost` messages to `publisherId`, or throws 429 with `Retry-After`. */
  take(publisherId: string, cost: number, now = Date.now()): void {
    const { ratePerSecond, burst } = this.options;
    if (ratePerSecond <= 0) return;
    let bucket = this.buckets.get(publisherId);
    if (bucket === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) this.forgetFull(now);
      bucket = { tokens: burst, at: now };
      this.buckets.set(publisherId, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * ratePerSecond);
      bucket.at = now;
    }
    if (bucket.tokens >= cost || bucket.tokens >= burst) {
      bucket.tokens -= cost;
      return;
    }
    const retryAfter = Math.max(1, Math.ceil((Math.min(cost, burst) - bucket.tokens) / ratePerSecond));
    throw new HeraldError(
      Problems.tooManyRequests,
      `publish rate limit: ${ratePerSecond} messages per second (burst ${burst}); retry in ${retryAfter}s`,
      { retryAfter, limit: ratePerSecond },
    );
  }

  private forgetFull(now: number): void {
    const { ratePerSecond, burst } = this.options;
    for (const [id, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * ratePerSecond >= burst) this.buckets.delete(id);
    }
  }
}
