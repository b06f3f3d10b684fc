import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse, type SseConnection } from '../helpers/sse-client.js';

describe('addressing modes and multi-tab users', () => {
  let node: TestHerald;
  let streams: SseConnection[] = [];
  const open = async (query: string): Promise<SseConnection> => {
    const stream = await openSse(`${node.url}/events?${query}`);
    await stream.waitFor(1, (e) => e.event === 'connected');
    streams.push(stream);
    return stream;
  };
  before(async () => {
    node = await startHerald();
  });
  after(async () => {
    for (const stream of streams) stream.close();
    streams = [];
    await node.close();
  });

  test('the stream answers with the SSE headers, a retry hint and a connected event', async () => {
    const stream = await open('user=headers');
    assert.equal(stream.status, 200);
    assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
    assert.equal(stream.headers['cache-control'], 'no-store');
    assert.equal(stream.headers['x-accel-buffering'], 'no');
    assert.equal(stream.retries[0], 3000);
    const connected = stream.events[0];
    assert.equal(connected?.event, 'connected');
    assert.ok(JSON.parse(connected?.data ?? '{}').connectionId);
  });

  test('to users: only the named users receive it', async () => {
    const alice = await open('user=u-alice');
    const bob = await open('user=u-bob');
    const carol = await open('user=u-carol');
    await publish(node.url, { to: { users: ['u-alice', 'u-bob'] }, data: 'to two' });
    await publish(node.url, { to: { users: ['u-carol'] }, data: 'marker' });
    await carol.waitFor(1, isMessage);
    assert.deepEqual(
      (await alice.waitFor(1, isMessage)).map((e) => e.data),
      ['to two'],
    );
    assert.deepEqual(
      (await bob.waitFor(1, isMessage)).map((e) => e.data),
      ['to two'],
    );
    assert.deepEqual(
      carol.events.filter(isMessage).map((e) => e.data),
      ['marker'],
    );
  });

  test('to groups: members of the group receive it, others do not', async () => {
    const member = await open('user=g-1&group=team-a&group=news');
    const other = await open('user=g-2&group=team-b');
    await publish(node.url, { to: { groups: ['team-a'] }, data: 'for team a' });
    await publish(node.url, { to: { users: ['g-2'] }, data: 'marker' });
    await other.waitFor(1, isMessage);
    assert.deepEqual(
      (await member.waitFor(1, isMessage)).map((e) => e.data),
      ['for team a'],
    );
    assert.deepEqual(
      other.events.filter(isMessage).map((e) => e.data),
      ['marker'],
    );
  });

  test('to userPrefix: users whose id starts with the prefix receive it', async () => {
    const a = await open('user=shop-1-alice');
    const b = await open('user=shop-1-bob');
    const c = await open('user=shop-2-carol');
    await publish(node.url, { to: { userPrefix: 'shop-1-' }, data: 'shop 1' });
    await publish(node.url, { to: { users: ['shop-2-carol'] }, data: 'marker' });
    await c.waitFor(1, isMessage);
    assert.equal((await a.waitFor(1, isMessage))[0]?.data, 'shop 1');
    assert.equal((await b.waitFor(1, isMessage))[0]?.data, 'shop 1');
    assert.deepEqual(
      c.events.filter(isMessage).map((e) => e.data),
      ['marker'],
    );
  });

  test('to all: every connection receives it', async () => {
    const x = await open('user=all-x');
    const y = await open('user=all-y&group=whatever');
    await publish(node.url, { to: { all: true }, data: 'everyone' });
    assert.equal((await x.waitFor(1, (e) => e.data === 'everyone'))[0]?.data, 'everyone');
    assert.equal((await y.waitFor(1, (e) => e.data === 'everyone'))[0]?.data, 'everyone');
  });

  test('a message addressed several ways to one connection arrives once', async () => {
    const s = await open('user=dup-user&group=dup-group');
    await publish(node.url, {
      to: { users: ['dup-user'], groups: ['dup-group'], userPrefix: 'dup-', all: true },
      data: 'once',
    });
    await publish(node.url, { to: { users: ['dup-user'] }, data: 'marker' });
    const received = await s.waitFor(2, isMessage);
    assert.deepEqual(
      received.map((e) => e.data),
      ['once', 'marker'],
    );
  });

  test('multi-tab: every connection of a user receives its messages; closing one leaves the others', async () => {
    const tabs = await Promise.all([open('user=tabby'), open('user=tabby'), open('user=tabby')]);
    await publish(node.url, { to: { users: ['tabby'] }, data: 'first' });
    for (const tab of tabs) assert.equal((await tab.waitFor(1, isMessage))[0]?.data, 'first');
    tabs[0]?.close();
    await tabs[0]?.ended;
    await publish(node.url, { to: { users: ['tabby'] }, data: 'second' });
    for (const tab of tabs.slice(1)) assert.equal((await tab.waitFor(2, isMessage))[1]?.data, 'second');
    const presence = await fetch(`${node.url}/presence/users/tabby`).then((r) => r.json());
    assert.deepEqual(presence, { id: 'tabby', online: true, connections: 2 });
  });

  test('a batch publish delivers every message in order and answers every id', async () => {
    const s = await open('user=batcher');
    const { status, body } = await postJson(`${node.url}/messages`, [
      { to: { users: ['batcher'] }, data: 'b1' },
      { to: { users: ['batcher'] }, data: 'b2' },
      { to: { users: ['batcher'] }, data: 'b3' },
    ]);
    assert.equal(status, 202);
    assert.equal(body.ids.length, 3);
    const received = await s.waitFor(3, isMessage);
    assert.deepEqual(
      received.map((e) => e.id),
      body.ids,
    );
  });

  test('DELETE /users/{id}/connections ends every connection of that user with a disconnect event', async () => {
    const tabs = await Promise.all([open('user=kicked'), open('user=kicked')]);
    const bystander = await open('user=stays');
    const { status, body } = await fetch(`${node.url}/users/kicked/connections`, { method: 'DELETE' }).then(
      async (r) => ({ status: r.status, body: await r.json() }),
    );
    assert.equal(status, 200);
    assert.deepEqual(body, { user: 'kicked', closed: 2 });
    for (const tab of tabs) {
      await tab.ended;
      const last = tab.events.at(-1);
      assert.equal(last?.event, 'disconnect');
      assert.deepEqual(JSON.parse(last?.data ?? '{}'), { reason: 'closed-by-server', reconnect: false });
    }
    await publish(node.url, { to: { users: ['stays'] }, data: 'still here' });
    assert.equal((await bystander.waitFor(1, isMessage))[0]?.data, 'still here');
  });
});
