import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RedisLog } from '../../src/backends/redis/log.js';
import { SqliteLog } from '../../src/backends/sqlite/log.js';
import type { MessageDraft } from '../../src/core/message.js';
import type { Log } from '../../src/core/ports.js';
import { type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const LARGE = 'x'.repeat(64 * 1024);
/** What the history below holds for others: 150 payloads of 64 KiB, 9.6 MiB in all. */
const OTHERS_BYTES = 150 * LARGE.length;
/** Far below one read of the others' payloads, far above what reading topics and ann's messages takes. */
const BUDGET = OTHERS_BYTES / 10;

/** Ten short messages to ann, each followed by fifteen large ones to bob: one replay page of ten for ann. */
async function fillHistory(log: Log): Promise<string> {
  const from = await log.head();
  for (let i = 0; i < 10; i++) {
    const toBob: MessageDraft[] = Array.from({ length: 15 }, () => ({ topics: ['user:bob'], data: LARGE }));
    await log.appendMany([{ topics: ['user:ann'], data: `for ann ${i}` }, ...toBob]);
  }
  return from;
}

async function replayForAnn(log: Log, from: string): Promise<string[]> {
  const replay = await log.readAfter(from, { userId: 'ann', groups: [] }, 10);
  assert.equal(replay.kind, 'messages');
  return replay.messages.map((m) => m.data);
}

const FOR_ANN = Array.from({ length: 10 }, (_, i) => `for ann ${i}`);

/** Bytes this process has read through system calls (Linux), or undefined elsewhere. */
function bytesReadByProcess(): number | undefined {
  try {
    return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

describe('a replay page reads only the payloads it returns', () => {
  test('SQLite: the bytes read from the file stay far below the payloads addressed to others', {
    skip: bytesReadByProcess() === undefined ? 'needs /proc/self/io (Linux)' : false,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herald-replay-reads-'));
    const log = new SqliteLog({ path: join(dir, 'log.db'), historySize: 10_000, historyAgeMs: 3_600_000 });
    try {
      const from = await fillHistory(log);
      const before = bytesReadByProcess() as number;
      assert.deepEqual(await replayForAnn(log, from), FOR_ANN);
      const read = (bytesReadByProcess() as number) - before;
      assert.ok(read < BUDGET, `the replay read ${read} bytes`);
    } finally {
      await log.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('Redis', { skip: redisSkip }, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(async () => {
      await redis.stop();
    });

    test('Redis: the bytes Redis sends stay far below the payloads addressed to others', async () => {
      const proxy = await startTcpProxy(redis.port);
      const log = await RedisLog.connect({
        url: `redis://127.0.0.1:${proxy.port}/0`,
        prefix: 'reads:',
        historySize: 10_000,
        historyAgeMs: 3_600_000,
      });
      try {
        const from = await fillHistory(log);
        const before = proxy.bytesFromTarget;
        assert.deepEqual(await replayForAnn(log, from), FOR_ANN);
        const sent = proxy.bytesFromTarget - before;
        assert.ok(sent < BUDGET, `Redis sent ${sent} bytes`);
      } finally {
        await log.close();
        await proxy.close();
      }
    });
  });
});
