import { after, before, test } from 'node:test';
import { RedisLog } from '../../src/backends/redis/log.js';
import { type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { logContract } from './log.contract.js';

let redis: RedisServer | undefined;
let prefixes = 0;

if (redisSkip === false) {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
}

if (redisSkip !== false) test('Log contract: redis', { skip: redisSkip }, () => {});
else
  logContract(
    'redis',
    {
      async open(options) {
        const prefix = `contract${++prefixes}:`;
        const make = () =>
          RedisLog.connect({
            url: (redis as RedisServer).url,
            prefix,
            historySize: options.historySize,
            historyAgeMs: options.historyAgeMs,
          });
        const log = await make();
        return {
          log,
          async reopen() {
            await log.close();
            const reopened = await make();
            await reopened.head();
            return reopened;
          },
        };
      },
    },
    {
      expiredByAge:
        'Redis trims and checks age by its own clock (XTRIM MINID, TIME); a fake clock cannot drive it',
    },
  );
