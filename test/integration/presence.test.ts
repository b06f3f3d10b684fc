import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.js';
import { getJson, startHerald, type TestHerald } from '../helpers/herald.js';
import { openSse, type SseConnection } from '../helpers/sse-client.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('presence', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({ heartbeatMs: 200, maxConnectionsPerUser: 0 });
  });
  after(() => node.close());

  test('GET /presence counts connections and distinct users exactly', async () => {
    const streams = await Promise.all(
      ['p-a', 'p-a', 'p-b', 'p-c', 'p-c', 'p-c'].map((user) => openSse(`${node.url}/events?user=${user}`)),
    );
    await Promise.all(streams.map((s) => s.waitFor(1)));
    assert.deepEqual((await getJson(`${node.url}/presence`)).body, { connections: 6, users: 3 });
    assert.deepEqual((await getJson(`${node.url}/presence/users/p-c`)).body, {
      id: 'p-c',
      online: true,
      connections: 3,
    });
    assert.deepEqual((await getJson(`${node.url}/presence/users/nobody`)).body, {
      id: 'nobody',
      online: false,
      connections: 0,
    });
    assert.deepEqual((await getJson(`${node.url}/sse/getUserCount`)).body, 3);
    for (const s of streams) s.close();
    await eventually(
      'connections closed',
      async () => (await getJson(`${node.url}/presence`)).body.connections === 0,
    );
  });

  test('GET /presence/users pages through online users by prefix with a cursor', async () => {
    const users = ['list-a', 'list-b', 'list-c', 'list-d', 'list-e', 'other'];
    const streams = await Promise.all(users.map((user) => openSse(`${node.url}/events?user=${user}`)));
    await Promise.all(streams.map((s) => s.waitFor(1)));
    const first = await getJson(`${node.url}/presence/users?prefix=list-&limit=2`);
    assert.deepEqual(first.body.users, [
      { id: 'list-a', online: true, connections: 1 },
      { id: 'list-b', online: true, connections: 1 },
    ]);
    const seen = first.body.users.map((u: { id: string }) => u.id);
    let cursor = first.body.nextCursor;
    while (cursor !== undefined) {
      const page = await getJson(`${node.url}/presence/users?prefix=list-&limit=2&cursor=${cursor}`);
      seen.push(...page.body.users.map((u: { id: string }) => u.id));
      cursor = page.body.nextCursor;
    }
    assert.deepEqual(seen, ['list-a', 'list-b', 'list-c', 'list-d', 'list-e']);
    const bad = await getJson(`${node.url}/presence/users?limit=0`);
    assert.equal(bad.status, 400);
    for (const s of streams) s.close();
    await eventually(
      'connections closed',
      async () => (await getJson(`${node.url}/presence`)).body.connections === 0,
    );
  });

  test('counts return to zero after 1000 connections opened and dropped in mixed ways, with nothing left behind', async () => {
    const baselineTimers = timers();
    const dropped: Promise<unknown>[] = [];
    const open: SseConnection[] = [];
    for (let i = 0; i < 1000; i++) {
      const user = `churn-${i % 100}`;
      const way = i % 4;
      if (way === 0) {
        // The client crashes: its socket is destroyed without a word.
        const s = await openSse(`${node.url}/events?user=${user}`);
        await s.waitFor(1);
        s.response.socket.destroy();
      } else if (way === 1) {
        // The request is aborted before the response started.
        const request = http.get(`${node.url}/events?user=${user}`, { agent: false });
        request.on('error', () => {});
        request.destroy();
        dropped.push(new Promise((resolve) => request.once('close', resolve)));
      } else if (way === 2) {
        // A page refresh: a new connection resumes, then the old one goes.
        const s = await openSse(`${node.url}/events?user=${user}`);
        const [connected] = await s.waitFor(1);
        const fresh = await openSse(`${node.url}/events?user=${user}`, {
          'last-event-id': connected?.id ?? '',
        });
        s.close();
        await fresh.waitFor(1);
        open.push(fresh);
      } else {
        // Still open; closed by the server below.
        const s = await openSse(`${node.url}/events?user=${user}&group=churners`);
        await s.waitFor(1);
        open.push(s);
      }
    }
    await Promise.all(dropped);
    const during = (await getJson(`${node.url}/presence`)).body;
    assert.ok(
      during.connections <= 500 && during.connections >= 250,
      `open connections: ${during.connections}`,
    );
    // The server closes half of what is left, the clients close the rest.
    for (let u = 0; u < 100; u += 2)
      await fetch(`${node.url}/users/churn-${u}/connections`, { method: 'DELETE' });
    for (const s of open) s.close();
    await eventually('presence back to zero', async () => {
      const body = (await getJson(`${node.url}/presence`)).body;
      return body.connections === 0 && body.users === 0;
    });
    const hub = node.herald.hub;
    assert.equal(hub.connectionCount, 0);
    assert.equal(hub.userCount, 0);
    assert.equal(hub.groupCount, 0, 'no group index entry left behind');
    await eventually('heartbeat timer stopped', () => timers() <= baselineTimers);
    assert.deepEqual((await getJson(`${node.url}/presence/users?prefix=churn-`)).body, { users: [] });
  });

  test('an idle stream gets a comment heartbeat at the configured interval', async () => {
    const s = await openSse(`${node.url}/events?user=beat`);
    await s.waitFor(1);
    const start = s.comments.length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no heartbeat within 2s')), 2000);
      s.response.on('data', () => {
        if (s.comments.length >= start + 2) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    assert.match(s.raw(), /\n:\n\n/);
    s.close();
  });
});
