import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { PollResponse } from '../../src/protocol/wire.js';
import { bearer, publishAs, request, tokenFor } from '../helpers/auth.js';
import { eventually } from '../helpers/eventually.js';
import {
  getJson,
  publish,
  startHerald,
  startSecureHerald,
  TEST_KEYS,
  type TestHerald,
} from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

/** One `GET /poll`; fails unless it answers 200. */
async function poll(
  base: string,
  query: string,
  headers: Record<string, string> = {},
): Promise<PollResponse> {
  const response = await fetch(`${base}/poll?${query}`, { headers });
  const body = (await response.json()) as PollResponse;
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(response.headers.get('cache-control'), 'no-store');
  return body;
}

/**
 * Closes the node, and with it the sockets fetch's pool opened but never used: Node counts a connection
 * that sent no request as busy, and would hold the close for its headers timeout (about a minute).
 */
async function closeHerald(node: TestHerald): Promise<void> {
  const closing = node.close();
  (node.herald.app.server as http.Server).closeAllConnections();
  await closing;
}

const after_ = (id: string): string => `lastEventId=${encodeURIComponent(id)}`;

describe('long-polling (GET /poll)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({ pollTimeoutMs: 400, historySize: 20 });
  });
  after(() => closeHerald(node));

  test('a first poll answers at once with the point to poll from', async () => {
    const started = Date.now();
    const first = await poll(node.url, 'user=first');
    assert.deepEqual(first.messages, []);
    assert.ok(first.lastEventId, 'a resume point');
    assert.ok(Date.now() - started < 300, 'no wait without a lastEventId');
  });

  test('a waiting poll is completed by the next message, through the hub', async () => {
    const { lastEventId } = await poll(node.url, 'user=waiter');
    const waiting = poll(node.url, `user=waiter&${after_(lastEventId)}`);
    await eventually('the poll is registered on the hub', () => node.herald.hub.connectionCount === 1);
    const id = await publish(node.url, { to: { users: ['waiter'] }, data: 'wake up' });
    const answer = await waiting;
    assert.deepEqual(answer.messages, [{ id, data: 'wake up' }]);
    assert.equal(answer.lastEventId, id);
    assert.equal(node.herald.hub.connectionCount, 0, 'the waiting subscription is gone');
  });

  test('with nothing new, the poll answers empty at the bound with the same id', async () => {
    const { lastEventId } = await poll(node.url, 'user=idle');
    const started = Date.now();
    const answer = await poll(node.url, `user=idle&${after_(lastEventId)}`);
    assert.deepEqual(answer, { messages: [], lastEventId });
    assert.ok(Date.now() - started >= 350, 'waited for the bound');
  });

  test('returns the same messages in the same order as an SSE replay, with JSON and group marks', async () => {
    const { lastEventId: start } = await poll(node.url, 'user=ann&group=news');
    await publish(node.url, { to: { users: ['ann'] }, data: 'text' });
    await publish(node.url, { to: { users: ['ann'] }, event: 'chat', data: { n: 1 } });
    await publish(node.url, { to: { groups: ['news'] }, data: 'headline' });
    await publish(node.url, { to: { groups: ['sport'] }, data: 'not for ann' });
    await publish(node.url, { to: { groups: ['news', 'sport'], users: ['zed'] }, data: [1, 2] });
    const polled = await poll(node.url, `user=ann&group=news&${after_(start)}`);
    const sse = await openSse(`${node.url}/events?user=ann&group=news`, { 'last-event-id': start });
    const replayed = await sse.waitFor(4, isMessage);
    sse.close();
    assert.deepEqual(
      polled.messages.map((m) => [m.id, m.event ?? 'message', m.data]),
      replayed.map((e) => [e.id, e.event, e.data]),
    );
    assert.deepEqual(
      polled.messages.map(({ id: _, ...rest }) => rest),
      [
        { data: 'text' },
        { event: 'chat', data: '{"n":1}', json: true },
        { data: 'headline', groups: ['news'] },
        { data: '[1,2]', json: true, groups: ['news', 'sport'], direct: true },
      ],
    );
    assert.match(sse.raw(), /: herald json\ndata: \{"n":1\}/);
    assert.equal(polled.lastEventId, polled.messages[3]?.id);
  });

  test('an unknown id is a gap, then polling goes on from the given point', async () => {
    const answer = await poll(node.url, `user=gap&${after_('12345-1')}`);
    assert.deepEqual(answer.messages, []);
    assert.deepEqual(answer.gap, { reason: 'unknown-id', lastEventId: '12345-1' });
    const id = await publish(node.url, { to: { users: ['gap'] }, data: 'after the gap' });
    const next = await poll(node.url, `user=gap&${after_(answer.lastEventId)}`);
    assert.deepEqual(next.messages, [{ id, data: 'after the gap' }]);
  });

  test('an id older than the retained history is an expired gap', async () => {
    const { lastEventId } = await poll(node.url, 'user=old');
    for (let i = 0; i < 25; i++) await publish(node.url, { to: { users: ['old'] }, data: `m${i}` });
    const answer = await poll(node.url, `user=old&${after_(lastEventId)}`);
    assert.equal(answer.gap?.reason, 'expired');
    assert.deepEqual(answer.messages, []);
  });

  test('the Last-Event-ID header works like the query parameter', async () => {
    const { lastEventId } = await poll(node.url, 'user=hdr');
    const id = await publish(node.url, { to: { users: ['hdr'] }, data: 'x' });
    const answer = await poll(node.url, 'user=hdr', { 'last-event-id': lastEventId });
    assert.equal(answer.messages[0]?.id, id);
  });

  test('a server-side close ends the wait with a disconnect', async () => {
    const { lastEventId } = await poll(node.url, 'user=kicked');
    const waiting = poll(node.url, `user=kicked&${after_(lastEventId)}`);
    await eventually(
      'the poll waits',
      async () => (await getJson(`${node.url}/presence/users/kicked`)).body.online,
    );
    const closed = await request(`${node.url}/users/kicked/connections`, { method: 'DELETE' });
    assert.equal(closed.body.closed, 1);
    const answer = await waiting;
    assert.deepEqual(answer.disconnect, { reason: 'closed-by-server', reconnect: false });
  });

  test('a client that goes away ends its wait and frees its slot', async () => {
    const { lastEventId } = await poll(node.url, 'user=leaver');
    const controller = new AbortController();
    const waiting = fetch(`${node.url}/poll?user=leaver&${after_(lastEventId)}`, {
      signal: controller.signal,
    });
    await eventually('the poll waits', () => node.herald.hub.connectionCount === 1);
    controller.abort();
    await assert.rejects(waiting);
    await eventually('the subscription is gone', () => node.herald.hub.connectionCount === 0);
  });
});

describe('long-polling with tokens', () => {
  let node: TestHerald;
  before(async () => {
    node = await startSecureHerald({ pollTimeoutMs: 300 });
  });
  after(() => closeHerald(node));

  test('needs a token, and the token decides user and groups as on /events', async () => {
    const anonymous = await fetch(`${node.url}/poll`);
    assert.equal(anonymous.status, 401);
    const token = await tokenFor('tina', { groups: ['staff'] });
    const refused = await fetch(`${node.url}/poll?group=payroll`, { headers: bearer(token) });
    assert.equal(refused.status, 403);
    const { lastEventId } = await poll(node.url, '', bearer(token));
    await publishAs(node.url, TEST_KEYS.publishKey, { to: { groups: ['staff'] }, data: 'for staff' });
    await publishAs(node.url, TEST_KEYS.publishKey, { to: { users: ['other'] }, data: 'not for tina' });
    const answer = await poll(node.url, after_(lastEventId), bearer(token));
    assert.deepEqual(
      answer.messages.map((m) => m.data),
      ['for staff'],
    );
  });

  test('a token that expires during the wait ends it with token-expired', async () => {
    const short = await startSecureHerald({ pollTimeoutMs: 10_000, jwtClockSkewMs: 0 });
    try {
      const token = await tokenFor('brief', { ttlMs: 1500 });
      const { lastEventId } = await poll(short.url, '', bearer(token));
      const answer = await poll(short.url, after_(lastEventId), bearer(token));
      assert.deepEqual(answer.disconnect, { reason: 'token-expired', reconnect: true });
      const again = await fetch(`${short.url}/poll?${after_(lastEventId)}`, { headers: bearer(token) });
      assert.equal(again.status, 401);
    } finally {
      await short.close();
    }
  });
});
