import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { presenceSignature } from '../../src/ops/presence-webhook.js';
import { tokenFor } from '../helpers/auth.js';
import { eventually } from '../helpers/eventually.js';
import { startHerald, startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { openSse, type ReceivedEvent } from '../helpers/sse-client.js';

const started: TestHerald[] = [];
after(async () => {
  for (const node of started) await node.close().catch(() => {});
});

const presence = (e: ReceivedEvent): boolean => e.event === 'online' || e.event === 'offline';
const described = (e: ReceivedEvent): string =>
  `${e.event} ${JSON.parse(e.data).user} ${JSON.parse(e.data).connections}`;

describe('presence events', () => {
  test('GET /presence/events tells online and offline once the debounce passed; a reload within it tells nothing', async () => {
    const node = await startHerald({ presenceDebounceMs: 1000 });
    started.push(node);
    const events = await openSse(`${node.url}/presence/events`);
    await events.waitFor(1, (e) => e.event === 'connected');
    const tab = await openSse(`${node.url}/events?user=reloader`);
    await events.waitFor(1, presence);
    // A reload: the tab's connection closes and a new one opens at once.
    tab.close();
    const reloaded = await openSse(`${node.url}/events?user=reloader`);
    await reloaded.waitFor(1);
    // Someone else comes online after the reload: nothing about the reloader may come before.
    const other = await openSse(`${node.url}/events?user=other`);
    await events.waitFor(2, presence);
    reloaded.close();
    await events.waitFor(3, presence);
    assert.deepEqual(events.events.filter(presence).map(described), [
      'online reloader 1',
      'online other 1',
      'offline reloader 0',
    ]);
    other.close();
    events.close();
  });

  test('a presence stream resumes after its Last-Event-ID within --presence-history, and is told gap beyond it', async () => {
    const node = await startHerald({ presenceDebounceMs: 50, presenceHistory: 2 });
    started.push(node);
    const events = await openSse(`${node.url}/presence/events`);
    await events.waitFor(1, (e) => e.event === 'connected');
    const users = [];
    for (const user of ['p1', 'p2', 'p3', 'p4']) {
      users.push(await openSse(`${node.url}/events?user=${user}`));
      await events.waitFor(users.length, presence);
    }
    const seen = events.events.filter(presence);
    events.close();
    const resumed = await openSse(`${node.url}/presence/events`, { 'last-event-id': seen[1]?.id as string });
    await resumed.waitFor(2, presence);
    assert.deepEqual(
      resumed.events.filter(presence).map((e) => e.id),
      seen.slice(2).map((e) => e.id),
    );
    resumed.close();
    const tooOld = await openSse(`${node.url}/presence/events`, { 'last-event-id': seen[0]?.id as string });
    const [gap] = await tooOld.waitFor(1, (e) => e.event === 'gap');
    assert.equal(gap?.id, seen[3]?.id);
    tooOld.close();
    for (const user of users) user.close();
  });

  test('presence events need publisher or admin credentials', async () => {
    const node = await startSecureHerald();
    started.push(node);
    const anonymous = await fetch(`${node.url}/presence/events`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const subscriber = await fetch(`${node.url}/presence/events`, {
      headers: { authorization: `Bearer ${await tokenFor('sam')}` },
    });
    assert.equal(subscriber.status, 403);
    await subscriber.body?.cancel();
    const admin = await openSse(`${node.url}/presence/events`, {
      authorization: `Bearer ${TEST_KEYS.adminKey}`,
    });
    assert.equal(admin.status, 200);
    admin.close();
  });

  test('the presence webhook is signed, and retried with backoff until the receiver accepts (two failures, then 200)', async () => {
    const secret = 'webhook-test-secret-0123456789abcdef';
    const attempts: { headers: IncomingMessage['headers']; body: string }[] = [];
    const receiver = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => {
        body += chunk;
      });
      request.on('end', () => {
        attempts.push({ headers: request.headers, body });
        response.statusCode = attempts.length <= 2 ? 503 : 200;
        response.end();
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const address = receiver.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const node = await startHerald({
      presenceDebounceMs: 50,
      presenceWebhook: `http://127.0.0.1:${port}/presence`,
      presenceWebhookSecret: secret,
    });
    started.push(node);
    const stream = await openSse(`${node.url}/events?user=hooked`);
    await eventually('three webhook attempts', () => attempts.length >= 3);
    assert.equal(attempts.length, 3);
    const bodies = new Set(attempts.map((a) => a.body));
    assert.equal(bodies.size, 1, 'every attempt sends the same event');
    const body = JSON.parse(attempts[2]?.body ?? '{}');
    assert.deepEqual([body.event, body.user, body.connections], ['online', 'hooked', 1]);
    for (const { headers, body: text } of attempts) {
      assert.equal(headers['herald-event'], 'online');
      assert.equal(headers['herald-delivery'], body.id);
      const signature = String(headers['herald-signature']);
      const seconds = Number(/^t=(\d+),/.exec(signature)?.[1]);
      assert.equal(signature, presenceSignature(secret, seconds, text));
    }
    stream.close();
    receiver.close();
  });
});

test('a presence webhook without its secret stops the start naming the option', () => {
  assert.throws(
    () => loadConfig(['--presence-webhook', 'http://127.0.0.1:9/x'], {}),
    /--presence-webhook-secret/,
  );
  assert.throws(
    () => loadConfig(['--presence-webhook', 'ftp://x', '--presence-webhook-secret', 'x'.repeat(32)], {}),
    /--presence-webhook/,
  );
});

describe('presence events on a Redis cluster', { skip: redisSkip }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  test('presence events are cluster-wide: decided once, the same ids on every node', async () => {
    const options = {
      log: redis.url,
      redisPrefix: 'presence-events:',
      presenceDebounceMs: 300,
      presenceTtlMs: 1000,
    };
    const a = await startHerald(options);
    const b = await startHerald(options);
    started.push(a, b);
    const onA = await openSse(`${a.url}/presence/events`);
    const onB = await openSse(`${b.url}/presence/events`);
    await Promise.all([onA.waitFor(1), onB.waitFor(1)]);
    // One user on both nodes: online once; offline only when the last connection, on either node, closed.
    const first = await openSse(`${a.url}/events?user=roamer`);
    await onB.waitFor(1, presence);
    const second = await openSse(`${b.url}/events?user=roamer`);
    await second.waitFor(1);
    first.close();
    const bystander = await openSse(`${b.url}/events?user=bystander`);
    await onB.waitFor(2, presence);
    second.close();
    await onB.waitFor(3, presence);
    await onA.waitFor(3, presence);
    const expected = ['online roamer 1', 'online bystander 1', 'offline roamer 0'];
    assert.deepEqual(onB.events.filter(presence).map(described), expected);
    assert.deepEqual(
      onA.events.filter(presence).map((e) => e.id),
      onB.events.filter(presence).map((e) => e.id),
    );
    bystander.close();
    onA.close();
    onB.close();
  });
});
