import { after, before, test } from 'node:test';
import { type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { inboxContract } from './inbox.contract.js';

let redis: RedisServer | undefined;

if (redisSkip !== false) test('inbox contract: redis', { skip: redisSkip }, () => {});
else {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  // Each case opens its backend under a key prefix of its own (see the contract's `start`).
  inboxContract(
    'redis',
    { url: () => (redis as RedisServer).url },
    { idle: 'the cluster keeps inboxes and groups in Redis: nothing is known without asking it' },
  );
}
