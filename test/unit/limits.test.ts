import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ExpiryWheel } from '../../src/auth/expiry-wheel.js';
import { HeraldError } from '../../src/errors.js';
import { ConnectionLimits, PublishRateLimiter } from '../../src/http/limits.js';

describe('ExpiryWheel', () => {
  // The wheel's timer is unref'd (it never holds a process open): keep this test's loop alive meanwhile.
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => {}, 1000);
  });
  after(() => clearInterval(keepAlive));

  test('fires each item once at or after its deadline, never a cancelled one, on one timer', async () => {
    const fired: number[] = [];
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const start = Date.now();
    const wheel = new ExpiryWheel<number>((item) => {
      assert.ok(Date.now() >= start + (item % 50), `item ${item} fired early`);
      fired.push(item);
      if (fired.length === 500) done();
    }, 10);
    const cancels = [];
    for (let i = 0; i < 1000; i++) cancels.push(wheel.add(i, start + (i % 50)));
    for (let i = 0; i < 1000; i += 2) cancels[i]?.();
    assert.equal(wheel.size, 500);
    await finished;
    assert.equal(new Set(fired).size, 500);
    assert.ok(fired.every((item) => item % 2 === 1));
    assert.equal(wheel.size, 0);
    wheel.close();
  });

  test('an item already due fires on the next tick, not inside add', async () => {
    let fired = false;
    const done = new Promise<void>((resolve) => {
      const wheel = new ExpiryWheel<string>(() => {
        fired = true;
        resolve();
        wheel.close();
      }, 10);
      wheel.add('late', Date.now() - 60_000);
      assert.equal(fired, false);
    });
    await done;
  });
});

describe('PublishRateLimiter', () => {
  const refused = (fn: () => void): HeraldError => {
    try {
      fn();
    } catch (error) {
      assert.ok(error instanceof HeraldError);
      return error;
    }
    assert.fail('expected a 429');
  };

  test('admits the burst, then the sustained rate; Retry-After says when the next fits', () => {
    const limiter = new PublishRateLimiter({ ratePerSecond: 10, burst: 20 });
    for (let i = 0; i < 20; i++) limiter.take('p', 1, 0);
    const error = refused(() => limiter.take('p', 1, 0));
    assert.equal(error.problem.status, 429);
    assert.equal(error.extra.retryAfter, 1);
    limiter.take('p', 1, 100);
    limiter.take('other', 20, 100);
  });

  test('a batch larger than the burst passes from a full bucket and is paid back', () => {
    const limiter = new PublishRateLimiter({ ratePerSecond: 100, burst: 10 });
    limiter.take('p', 500, 0);
    assert.equal(refused(() => limiter.take('p', 1, 1000)).extra.retryAfter, 4);
    limiter.take('p', 1, 5000);
  });

  test('a rate of 0 is no limit', () => {
    const limiter = new PublishRateLimiter({ ratePerSecond: 0, burst: 1 });
    for (let i = 0; i < 1000; i++) limiter.take('p', 1000, 0);
  });
});

describe('ConnectionLimits', () => {
  test('release is idempotent and frees exactly one slot', () => {
    const limits = new ConnectionLimits({
      maxConnections: 0,
      maxConnectionsPerIp: 0,
      maxConnectionsPerUser: 1,
      retryAfterSeconds: 3,
    });
    const release = limits.acquire('1.2.3.4', 'alice');
    assert.throws(() => limits.acquire('5.6.7.8', 'alice'), /limit 1/);
    release();
    release();
    assert.equal(limits.size, 0);
    limits.acquire('5.6.7.8', 'alice');
    assert.equal(limits.size, 1);
  });
});
