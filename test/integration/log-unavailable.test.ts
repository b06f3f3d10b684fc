import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getJson, postJson, publish, startHerald } from '../helpers/herald.js';
import { redisSkip, startRedis } from '../helpers/redis.js';

const LOG_UNAVAILABLE = '/problems/log-unavailable';

describe('503 log-unavailable', { skip: redisSkip }, () => {
  test("with Redis stopped, a publish answers the fixed detail without the driver's message, which its one log line keeps", async () => {
    const redis = await startRedis();
    const node = await startHerald({ log: redis.url, redisPrefix: 'down:' });
    try {
      await publish(node.url, { to: { all: true }, data: 'while Redis is up' });
      await redis.stop();
      // The native API's fast path, then a route through Fastify's error handler (the classic API).
      const answers = [
        await postJson(`${node.url}/messages`, { to: { all: true }, data: 'refused' }),
        await getJson(`${node.url}/sse/sendMessage?userId=ann&message=refused`),
      ];
      const lines = node.logs.filter((line) => line.problem === 'log-unavailable');
      assert.equal(lines.length, answers.length, 'one log line per failed request');
      for (const [i, answer] of answers.entries()) {
        assert.equal(answer.status, 503);
        assert.equal(answer.body.type, LOG_UNAVAILABLE);
        assert.equal(answer.body.detail, 'the message log cannot be reached; retry later');
        const logged = String((lines[i]?.err as { message?: string } | undefined)?.message);
        const driverWords = /^Redis is unavailable: (.+)$/.exec(logged)?.[1];
        assert.ok(driverWords !== undefined, `the log line has the driver's message: ${logged}`);
        assert.ok(!JSON.stringify(answer.body).includes(driverWords), JSON.stringify(answer.body));
      }
    } finally {
      await node.close();
      await redis.stop();
    }
  });
});
