import { after, before } from 'node:test';
import { RedisLog } from '../../src/log/redis.js';
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

const skipAll = (reason: string) =>
  Object.fromEntries(
    [
      'positions',
      'tailOrder',
      'readAudience',
      'paging',
      'publisherId',
      'emptyHead',
      'unknownId',
      'expiredByCount',
      'expiredByAge',
      'duplicate',
      'batch',
      'restart',
    ].map((name) => [name, reason]),
  );

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
  redisSkip === false
    ? {
        expiredByAge:
          'Redis trims and checks age by its own clock (XTRIM MINID, TIME); a fake clock cannot drive it',
      }
    : skipAll(redisSkip),
);
