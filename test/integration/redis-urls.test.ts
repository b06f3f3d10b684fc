import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { postJson, publish, startHerald } from '../helpers/herald.js';
import { HERALD_BIN, spawnHerald } from '../helpers/process.js';
import { freePort, type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { isMessage, openSse } from '../helpers/sse-client.js';
import { selfSignedCertificate, type TestCertificate } from '../helpers/tls.js';

/** Runs `herald` to its exit; resolves with the code and what it wrote to stderr. */
async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; err: string }> {
  const child = spawn(process.execPath, [HERALD_BIN, '--dev', '--port', '0', ...args], {
    env: { PATH: process.env.PATH, ...env },
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.stdout.resume();
  const [code] = await once(child, 'exit');
  return { code: code as number, err };
}

describe('--log rediss://: Redis over TLS', { skip: redisSkip }, () => {
  let certificate: TestCertificate;
  let redis: RedisServer;

  before(async () => {
    certificate = selfSignedCertificate();
    // TLS only (no cleartext port): a node that talks to it at all talks TLS.
    redis = await startRedis({ tls: certificate });
  });
  after(async () => {
    await redis.stop();
    certificate.remove();
  });

  test('a node that trusts the server (NODE_EXTRA_CA_CERTS) publishes and streams through it', async () => {
    const node = await spawnHerald(['--log', redis.url], { NODE_EXTRA_CA_CERTS: certificate.certPath });
    try {
      const stream = await openSse(`${node.url}/events?user=ann`);
      await stream.waitFor(1, (e) => e.event === 'connected');
      const id = await publish(node.url, { to: { users: ['ann'] }, data: 'over tls' });
      const [message] = await stream.waitFor(1, isMessage);
      assert.deepEqual({ id: message?.id, data: message?.data }, { id, data: 'over tls' });
      stream.close();
    } finally {
      await node.kill();
    }
  });

  test('a certificate Node does not trust stops the start: exit 1, one line with the cause and the URL', async () => {
    const { code, err } = await run(['--log', redis.url]);
    assert.equal(code, 1);
    assert.equal(err.trim().split('\n').length, 1, err);
    assert.match(err, /self-signed certificate/);
    assert.ok(err.includes(redis.url), err);
  });
});

describe('--log redis://…?replicas=N', { skip: redisSkip }, () => {
  test('with no replica to confirm it, a publish is not acknowledged: 503 log-unavailable', async () => {
    const redis = await startRedis();
    const node = await startHerald({ log: `${redis.url}?replicas=1`, redisPrefix: 'replicas:' });
    try {
      const { status, body } = await postJson(`${node.url}/messages`, { to: { all: true }, data: 'x' });
      assert.equal(status, 503);
      assert.equal(body.type.split('/').at(-1), 'log-unavailable');
      const logged = node.logs.map((l) => (l.err as { message?: string } | undefined)?.message ?? '');
      assert.ok(
        logged.some((message) => /replicated the message to 0 of the 1 replicas/.test(message)),
        JSON.stringify(logged),
      );
    } finally {
      await node.close();
      await redis.stop();
    }
  });
});

describe('--log redis+sentinel://: what the URL must name', () => {
  test('a URL without a master name, with a bad port or an unknown parameter stops the start (exit 2)', async () => {
    for (const url of [
      'redis+sentinel://127.0.0.1:26379',
      'redis+sentinel://127.0.0.1:26379/',
      'redis+sentinel://127.0.0.1:99999/herald',
      'redis+sentinel://127.0.0.1:26379,/herald',
      'redis+sentinel://127.0.0.1:26379/herald?sentinelPasword=typo',
      'redis+sentinel://127.0.0.1:26379/herald/db0',
    ]) {
      const { code, err } = await run(['--log', url]);
      assert.equal(code, 2, url);
      assert.match(err, /invalid --log=.*redis\+sentinel:\/\/host:port\[,host:port…\]\/master/, url);
    }
  });

  test('?replicas= must be a count, on any Redis URL (exit 2)', async () => {
    for (const url of [
      'redis://127.0.0.1:6379/0?replicas=one',
      'rediss://127.0.0.1:6379/0?replicas=-1',
      'redis+sentinel://127.0.0.1:26379/herald?replicas=',
    ]) {
      const { code, err } = await run(['--log', url]);
      assert.equal(code, 2, url);
      assert.match(err, /invalid --log=/, url);
    }
  });

  test('the passwords a refused URL carries are not shown', async () => {
    const { code, err } = await run([
      '--log',
      'redis+sentinel://app:hunter2@127.0.0.1:26379/?sentinelPassword=s3cret',
    ]);
    assert.equal(code, 2);
    assert.doesNotMatch(err, /hunter2|s3cret/);
    assert.match(err, /app:\*\*\*@/);
    assert.match(err, /sentinelPassword=\*\*\*/);
  });

  test('with no sentinel answering, the start stops at once: exit 1, one line naming the URL', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const url = `redis+sentinel://:hunter2@127.0.0.1:${a},127.0.0.1:${b}/herald`;
    const { code, err } = await run(['--log', url]);
    assert.equal(code, 1);
    assert.equal(err.trim().split('\n').length, 1, err);
    assert.match(err, /cannot use Redis: All sentinels are unreachable/);
    assert.ok(err.includes(`redis+sentinel://:***@127.0.0.1:${a},127.0.0.1:${b}/herald`), err);
  });
});
