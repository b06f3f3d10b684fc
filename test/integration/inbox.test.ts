import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DAY_MS, TestClock } from '../helpers/clock.js';
import { eventually } from '../helpers/eventually.js';
import { type JsonBody, publish, startHerald, type TestHerald } from '../helpers/herald.js';
import { type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { isMessage, openSse, type ReceivedEvent, type SseConnection } from '../helpers/sse-client.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

/** A request with a JSON body (or none) and its parsed answer. */
async function call(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: JsonBody }> {
  const response = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

let markers = 0;

/**
 * Opens a connection of `user` without Last-Event-ID (a new device) on `node`, and returns what it was
 * sent before a live marker published through `via` once it was connected: its inbox, in order.
 */
async function firstConnection(
  node: string,
  user: string,
  via = node,
  query = '',
): Promise<{ messages: ReceivedEvent[]; stream: SseConnection }> {
  const stream = await openSse(`${node}/events?user=${user}${query}`);
  await stream.waitFor(1, (e) => e.event === 'connected');
  const marker = `marker-${++markers}`;
  await publish(via, { to: { users: [user] }, data: marker });
  await stream.waitFor(1, (e) => e.data === marker);
  const events = stream.events.filter(isMessage);
  return {
    messages: events.slice(
      0,
      events.findIndex((e) => e.data === marker),
    ),
    stream,
  };
}

/** Opens a first connection, takes its inbox and closes it. */
async function inboxOnConnect(node: string, user: string, via = node, query = ''): Promise<string[]> {
  const { messages, stream } = await firstConnection(node, user, via, query);
  stream.close();
  return messages.map((e) => e.data);
}

/** Two nodes sharing one backend (the same node twice on a single-node backend). */
interface Pair {
  readonly a: string;
  readonly b: string;
}

/** The behaviour every backend shares; `pair` gives nodes whose clocks follow `clock`. */
function inboxSuite(name: string, pair: (clock: TestClock) => Promise<Pair>): void {
  describe(`inboxes: ${name}`, () => {
    test('a ttl message to an offline user arrives on their first connection tomorrow, and not after it is acknowledged', async () => {
      const clock = new TestClock();
      const { a, b } = await pair(clock);
      const id = await publish(a, {
        to: { users: ['olga'] },
        event: 'order',
        data: { n: 1 },
        ttl: 7 * 86_400,
      });
      await publish(a, { to: { users: ['olga'] }, data: 'no ttl: only live' });
      clock.advance(DAY_MS);
      const { messages, stream } = await firstConnection(b, 'olga', a);
      assert.deepEqual(
        messages.map((e) => [e.id, e.event, e.data]),
        [[id, 'order', '{"n":1}']],
      );
      // The inbox is followed by its count; its id is where the connection resumes, not the old message.
      const count = stream.events.find((e) => e.event === 'inbox');
      assert.deepEqual(JSON.parse(count?.data ?? '{}'), { unread: 1 });
      assert.equal(count?.id, stream.events[0]?.id);
      assert.ok(stream.comments.some((c) => c.includes('herald') && c.includes('inbox')));
      stream.close();
      const acked = await call('POST', `${a}/inbox/ack?user=olga`, { ids: [id] });
      assert.deepEqual(acked, { status: 200, body: { acked: 1, unread: 0, unknown: [] } });
      assert.deepEqual(await inboxOnConnect(b, 'olga', a), []);
    });

    test('a ttl message expires: once its ttl has passed a first connection does not get it', async () => {
      const clock = new TestClock();
      const { a, b } = await pair(clock);
      await publish(a, { to: { users: ['ed'] }, data: 'soon gone', ttl: 60 });
      await publish(a, { to: { users: ['ed'] }, data: 'stays', ttl: 3600 });
      clock.advance(2 * 60_000);
      assert.deepEqual(await inboxOnConnect(b, 'ed', a), ['stays']);
      const listed = await call('GET', `${b}/users/ed/inbox`);
      assert.equal(listed.body.unread, 1);
      assert.deepEqual(
        listed.body.messages.map((m: { data: string }) => m.data),
        ['stays'],
      );
    });

    test('a broadcast with a ttl reaches each user once, on whichever device connects first', async () => {
      const clock = new TestClock();
      const { a, b } = await pair(clock);
      const id = await publish(a, { to: { all: true }, data: 'maintenance tonight', ttl: 3600 });
      clock.advance(60_000);
      const first = await firstConnection(b, 'bea', a);
      assert.deepEqual(
        first.messages.map((e) => e.data),
        ['maintenance tonight'],
      );
      first.stream.close();
      assert.equal((await call('POST', `${a}/inbox/ack?user=bea`, { through: id })).body.acked, 1);
      // Acknowledged by bea (on another device): not again for her; still waiting for cy.
      assert.deepEqual(await inboxOnConnect(a, 'bea', b), []);
      assert.deepEqual(await inboxOnConnect(a, 'cy', b), ['maintenance tonight']);
      assert.deepEqual(await inboxOnConnect(b, 'cy', a), ['maintenance tonight']);
    });

    test('a group ttl message reaches an offline member through its server-side groups', async () => {
      const clock = new TestClock();
      const { a, b } = await pair(clock);
      const joined = await call('PUT', `${a}/users/gus/groups`, { groups: ['night-shift', 'ops'] });
      assert.deepEqual(joined, { status: 200, body: { user: 'gus', groups: ['night-shift', 'ops'] } });
      await publish(a, { to: { groups: ['ops'] }, data: 'to ops', ttl: 3600 });
      await publish(a, { to: { groups: ['sales'] }, data: 'to sales', ttl: 3600 });
      clock.advance(30 * 60_000);
      const { messages, stream } = await firstConnection(b, 'gus', a);
      assert.deepEqual(
        messages.map((e) => e.data),
        ['to ops'],
      );
      // The connection is told its groups: the server-side ones (it asked for none itself).
      const groups = stream.events.find((e) => e.event === 'groups');
      assert.deepEqual(JSON.parse(groups?.data ?? '{}'), { groups: ['night-shift', 'ops'] });
      stream.close();
      const patched = await call('PATCH', `${b}/users/gus/groups`, { add: ['sales'], remove: ['ops'] });
      assert.deepEqual(patched.body.groups, ['night-shift', 'sales']);
      assert.deepEqual(await inboxOnConnect(a, 'gus', b), ['to sales']);
      assert.deepEqual((await call('DELETE', `${a}/users/gus/groups`)).body, { user: 'gus', groups: [] });
      assert.deepEqual((await call('GET', `${b}/users/gus/groups`)).body, { user: 'gus', groups: [] });
    });

    test('a connection with Last-Event-ID replays as before: no inbox, nothing twice', async () => {
      const clock = new TestClock();
      const { a, b } = await pair(clock);
      const first = await firstConnection(b, 'lia', a);
      const resumeFrom = first.stream.lastEventId() as string;
      first.stream.close();
      const id = await publish(a, { to: { users: ['lia'] }, data: 'while away', ttl: 3600 });
      const resumed = await openSse(`${b}/events?user=lia`, { 'last-event-id': resumeFrom });
      const [replayed] = await resumed.waitFor(1, isMessage);
      assert.deepEqual([replayed?.id, replayed?.data], [id, 'while away']);
      const marker = await publish(a, { to: { users: ['lia'] }, data: 'live' });
      await resumed.waitFor(1, (e) => e.id === marker);
      assert.deepEqual(
        resumed.events.filter(isMessage).map((e) => e.data),
        ['while away', 'live'],
      );
      assert.equal(
        resumed.events.some((e) => e.event === 'inbox'),
        false,
      );
      resumed.close();
      // Live on a first connection, a waiting message is not sent again by the inbox of that connection.
      const live = await firstConnection(b, 'lia', a);
      assert.deepEqual(
        live.messages.map((e) => e.data),
        ['while away'],
      );
      const again = await publish(a, { to: { users: ['lia'] }, data: 'now', ttl: 3600 });
      await live.stream.waitFor(1, (e) => e.id === again);
      const last = await publish(a, { to: { users: ['lia'] }, data: 'last' });
      await live.stream.waitFor(1, (e) => e.id === last);
      const data = live.stream.events.filter(isMessage).map((e) => e.data);
      assert.deepEqual(
        data.filter((d) => d === 'now' || d === 'while away'),
        ['while away', 'now'],
      );
      live.stream.close();
    });

    test('GET /inbox pages what waits for the subscriber; DELETE /users/{id}/inbox clears it', async () => {
      const clock = new TestClock();
      const { a, b } = await pair(clock);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(await publish(a, { to: { users: ['pam'] }, data: `m${i}`, ttl: 3600 }));
      const page1 = await call('GET', `${b}/inbox?user=pam&limit=2`);
      assert.equal(page1.body.unread, 5);
      assert.deepEqual(
        page1.body.messages.map((m: { id: string }) => m.id),
        ids.slice(0, 2),
      );
      const page2 = await call('GET', `${b}/inbox?user=pam&limit=2&cursor=${page1.body.nextCursor}`);
      assert.deepEqual(
        page2.body.messages.map((m: { id: string }) => m.id),
        ids.slice(2, 4),
      );
      assert.equal((await call('POST', `${a}/inbox/ack?user=pam`, { through: ids[1] })).body.unread, 3);
      assert.deepEqual(await call('DELETE', `${a}/users/pam/inbox`), {
        status: 200,
        body: { user: 'pam', cleared: 3 },
      });
      assert.equal((await call('GET', `${b}/users/pam/inbox`)).body.unread, 0);
    });
  });
}

const started: TestHerald[] = [];
after(async () => {
  for (const node of started) await node.close().catch(() => {});
});

inboxSuite('memory', async (clock) => {
  const node = await startHerald({}, { now: clock.now });
  started.push(node);
  return { a: node.url, b: node.url };
});

let dir = '';
let files = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-inbox-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

inboxSuite('sqlite', async (clock) => {
  const node = await startHerald({ log: `sqlite:${join(dir, `inbox-${++files}.db`)}` }, { now: clock.now });
  started.push(node);
  return { a: node.url, b: node.url };
});

test('SQLite keeps inboxes and server-side groups across a restart', async () => {
  const file = `sqlite:${join(dir, 'durable.db')}`;
  const first = await startHerald({ log: file });
  const id = await publish(first.url, { to: { users: ['dora'] }, data: 'kept', ttl: 3600 });
  await call('PUT', `${first.url}/users/dora/groups`, { groups: ['crew'] });
  await first.close();
  const second = await startHerald({ log: file });
  started.push(second);
  const listed = await call('GET', `${second.url}/users/dora/inbox`);
  assert.deepEqual(
    listed.body.messages.map((m: { id: string }) => m.id),
    [id],
  );
  assert.deepEqual((await call('GET', `${second.url}/users/dora/groups`)).body.groups, ['crew']);
});

describe('inboxes on a Redis cluster', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let clusters = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  /** Two in-process nodes of a fresh cluster (key prefix of its own). */
  const twoNodes = async (clock: TestClock = new TestClock()): Promise<[TestHerald, TestHerald]> => {
    const redisPrefix = `inbox${++clusters}:`;
    const a = await startHerald({ log: redis.url, redisPrefix }, { now: clock.now });
    const b = await startHerald({ log: redis.url, redisPrefix }, { now: clock.now });
    started.push(a, b);
    return [a, b];
  };

  inboxSuite('redis, two nodes', async (clock) => {
    const [a, b] = await twoNodes(clock);
    return { a: a.url, b: b.url };
  });

  test('an acknowledgement on one node is seen on the other: not sent again, and its live connections told', async () => {
    const [a, b] = await twoNodes();
    const id = await publish(a.url, { to: { users: ['phone-user'] }, data: 'read me', ttl: 3600 });
    const laptop = await firstConnection(b.url, 'phone-user', a.url);
    assert.deepEqual(
      laptop.messages.map((e) => e.id),
      [id],
    );
    // Read on the phone (through node a): the laptop's live stream on node b hears the count drop.
    await call('POST', `${a.url}/inbox/ack?user=phone-user`, { ids: [id] });
    await laptop.stream.waitFor(1, (e) => e.event === 'inbox' && JSON.parse(e.data).unread === 0);
    laptop.stream.close();
    assert.deepEqual(await inboxOnConnect(b.url, 'phone-user', a.url), []);
  });

  test('a node whose link to Redis was cut hears of acknowledgements again once it is back', async () => {
    const redisPrefix = `inbox${++clusters}:`;
    const link = await startTcpProxy(redis.port);
    const a = await startHerald({ log: redis.url, redisPrefix });
    const b = await startHerald({ log: `redis://127.0.0.1:${link.port}/0`, redisPrefix });
    started.push(a, b);
    link.cut();
    link.restore();
    await eventually('node b ready again', async () => (await fetch(`${b.url}/readyz`)).status === 200);
    const id = await publish(a.url, { to: { users: ['cut-user'] }, data: 'x', ttl: 3600 });
    const stream = await openSse(`${b.url}/events?user=cut-user`);
    await stream.waitFor(1, (e) => e.event === 'inbox');
    // Subscribed again after the cut: the count from node a reaches the stream on node b.
    await eventually('the unread count from the other node', async () => {
      await call('POST', `${a.url}/inbox/ack?user=cut-user`, { ids: [id] });
      return stream.events.some((e) => e.event === 'inbox' && JSON.parse(e.data).unread === 0);
    });
    stream.close();
    await link.close();
  });

  test('a server-side join on one node reaches a live connection on the other at once', async () => {
    const [a, b] = await twoNodes();
    const stream = await openSse(`${b.url}/events?user=joiner`);
    await stream.waitFor(1, (e) => e.event === 'connected');
    await publish(a.url, { to: { groups: ['room-7'] }, data: 'before joining' });
    await call('PATCH', `${a.url}/users/joiner/groups`, { add: ['room-7'] });
    // The answer came once every node applies the join before any later message.
    const id = await publish(a.url, { to: { groups: ['room-7'] }, data: 'after joining' });
    const [received] = await stream.waitFor(1, isMessage);
    assert.deepEqual([received?.id, received?.data], [id, 'after joining']);
    const told = stream.events.find((e) => e.event === 'groups');
    assert.deepEqual(JSON.parse(told?.data ?? '{}'), { groups: ['room-7'] });
    await call('PATCH', `${a.url}/users/joiner/groups`, { remove: ['room-7'] });
    await publish(a.url, { to: { groups: ['room-7'] }, data: 'after leaving' });
    const marker = await publish(a.url, { to: { users: ['joiner'] }, data: 'marker' });
    await stream.waitFor(1, (e) => e.id === marker);
    assert.deepEqual(
      stream.events.filter(isMessage).map((e) => e.data),
      ['after joining', 'marker'],
    );
    stream.close();
  });
});
