import { describe, test } from 'node:test';
import fc from 'fast-check';
import { redisSkip } from '../helpers/redis.js';
import { checkModel } from './run.js';
import type { Backend } from './world.js';

/**
 * The delivery guarantee, checked by the model on every backend with a fixed budget that fits CI. The
 * seed is printed, so a failure replays with `npm run soak -- --backend <b> --seed <s>`; fast-check
 * shrinks a failure to a minimal command sequence and prints it as a script.
 */
const BUDGET: Record<Backend, number> = { memory: 10, sqlite: 10, redis: 8 };
/** Fixed seeds, so CI is repeatable; `npm run soak` explores with random ones. */
const SEEDS: Record<Backend, number> = { memory: 893569007, sqlite: 893588789, redis: 893631293 };

describe('delivery guarantee (model-based, real processes)', () => {
  for (const backend of ['memory', 'sqlite', 'redis'] as const) {
    const skip = backend === 'redis' ? redisSkip : false;
    test(`every subscriber gets exactly its messages, in order, once, or a gap: ${backend}`, {
      skip,
      timeout: 600_000,
    }, async () => {
      const seed = Number(process.env.HERALD_MODEL_SEED ?? SEEDS[backend]);
      console.log(`model on ${backend}: seed ${seed}, ${BUDGET[backend]} runs`);
      const result = await checkModel({ backend, runs: BUDGET[backend], seed });
      if (result.failed) {
        throw new Error(`seed ${seed}\n${fc.defaultReportMessage(result)}\n${result.errorInstance}`);
      }
    });
  }
});
