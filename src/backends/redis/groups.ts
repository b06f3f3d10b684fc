import type { Redis } from 'ioredis';
import { type GroupTables, normalGroups } from '../../core/groups.js';
import { LogUnavailableError } from '../../core/ports.js';

/** Server-side groups in Redis: one set per user (`<--redis-prefix>groups:<user>`), kept like the log. */
export class RedisGroupTables implements GroupTables {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async of(userId: string): Promise<readonly string[]> {
    try {
      return normalGroups(await this.redis.smembers(this.key(userId)));
    } catch (error) {
      throw unavailable(error);
    }
  }

  replace(userId: string, groups: readonly string[]): Promise<readonly string[]> {
    const key = this.key(userId);
    const multi = this.redis.multi().del(key);
    if (groups.length > 0) multi.sadd(key, ...groups);
    return this.exec(multi.smembers(key));
  }

  change(userId: string, add: readonly string[], remove: readonly string[]): Promise<readonly string[]> {
    const key = this.key(userId);
    const multi = this.redis.multi();
    if (add.length > 0) multi.sadd(key, ...add);
    if (remove.length > 0) multi.srem(key, ...remove);
    return this.exec(multi.smembers(key));
  }

  private key(userId: string): string {
    return `${this.prefix}groups:${userId}`;
  }

  /** Runs the transaction; the groups its last command (`SMEMBERS`) read. */
  private async exec(multi: ReturnType<Redis['multi']>): Promise<readonly string[]> {
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await multi.exec();
    } catch (error) {
      throw unavailable(error);
    }
    const last = replies?.[replies.length - 1];
    if (last === undefined || last[0] !== null)
      throw unavailable(last?.[0] ?? new Error('transaction discarded'));
    return normalGroups(last[1] as string[]);
  }
}

function unavailable(error: unknown): LogUnavailableError {
  return new LogUnavailableError(`Redis is unavailable: ${(error as Error).message}`);
}
