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
    node = await startHerald({ pollTimeoutMs: 400, pollGraceMs: 300, historySize: 20 });
  });
  after(() => closeHerald(node));

  test('a first poll answers at once with the point to poll from', async () => {
    const started = Date.now();
    const first = await poll(node.url, 'user=first');
    assert.deepEqual(first.messages, []);
    assert.ok(first.lastEventId, 'a resume point');
    assert.ok(first.session, 'a session to send back');
    assert.ok(Date.now() - started < 300, 'no wait without a lastEventId');
  });

  test('a waiting poll is completed by the next message, through the hub', async () => {
    const { lastEventId, session } = await poll(node.url, 'user=waiter');
    const waiting = poll(node.url, `user=waiter&session=${session}&${after_(lastEventId)}`);
    await eventually('the poll waits', () => node.herald.polls.pollsUnderWay === 1);
    const id = await publish(node.url, { to: { users: ['waiter'] }, data: 'wake up' });
    const answer = await waiting;
    assert.deepEqual(answer.messages, [{ id, data: 'wake up' }]);
    assert.equal(answer.lastEventId, id);
    assert.equal(node.herald.polls.pollsUnderWay, 0, 'no poll waits any more');
    const presence = await getJson(`${node.url}/presence/users/waiter`);
    assert.equal(presence.body.connections, 1, 'the session stays registered until its next poll');
  });

  test('with nothing new, the poll answers empty at the bound with the same id', async () => {
    const { lastEventId, session } = await poll(node.url, 'user=idle');
    const started = Date.now();
    const answer = await poll(node.url, `user=idle&session=${session}&${after_(lastEventId)}`);
    assert.deepEqual(answer, { messages: [], lastEventId, session });
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
    const { lastEventId, session } = await poll(node.url, 'user=kicked');
    const waiting = poll(node.url, `user=kicked&session=${session}&${after_(lastEventId)}`);
    await eventually('the poll waits', () => node.herald.polls.pollsUnderWay === 1);
    const closed = await request(`${node.url}/users/kicked/connections`, { method: 'DELETE' });
    assert.equal(closed.body.closed, 1);
    const answer = await waiting;
    assert.deepEqual(answer.disconnect, { reason: 'closed-by-server', reconnect: false });
    assert.equal(answer.session, undefined, 'the session ended');
  });

  test('a client that goes away ends its wait; its session frees its slot after the linger', async () => {
    const { lastEventId, session } = await poll(node.url, 'user=leaver');
    const controller = new AbortController();
    const waiting = fetch(`${node.url}/poll?user=leaver&session=${session}&${after_(lastEventId)}`, {
      signal: controller.signal,
    });
    await eventually('the poll waits', () => node.herald.polls.pollsUnderWay === 1);
    controller.abort();
    await assert.rejects(waiting);
    await eventually('the wait ended', () => node.herald.polls.pollsUnderWay === 0);
    await eventually(
      'the session lingered out',
      async () => (await getJson(`${node.url}/presence/users/leaver`)).body.connections === 0,
    );
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

describe('long-poll sessions', () => {
  // A session lingers for the wait plus the grace (here 0.3 s + 0.3 s) after an answer with no next poll.
  let node: TestHerald;
  before(async () => {
    node = await startHerald({ pollTimeoutMs: 300, pollGraceMs: 300, maxConnectionsPerUser: 0 });
  });
  after(() => closeHerald(node));

  const connectionsOf = async (base: string, user: string): Promise<number> =>
    (await getJson(`${base}/presence/users/${user}`)).body.connections;
  const resume = (user: string, answer: PollResponse, session = answer.session ?? ''): string =>
    `user=${user}&session=${encodeURIComponent(session)}&${after_(answer.lastEventId)}`;

  test('a long-polling user stays online in presence between polls', async () => {
    const first = await poll(node.url, 'user=steady');
    assert.equal(await connectionsOf(node.url, 'steady'), 1, 'online after the first answer');
    const session = first.session;
    assert.ok(typeof session === 'string' && session !== '', 'the first answer names a session');
    let answer = first;
    for (let i = 1; i <= 4; i++) {
      answer = await poll(node.url, resume('steady', answer));
      assert.equal(answer.session, session, 'the next poll goes on in the same session');
      assert.equal(await connectionsOf(node.url, 'steady'), 1, `one connection after poll ${i + 1}`);
    }
    assert.equal(await connectionsOf(node.url, 'steady'), 1, 'still one connection, not one per poll');
    // A message published while no poll waits is answered by the next poll at once.
    const id = await publish(node.url, { to: { users: ['steady'] }, data: 'between polls' });
    const next = await poll(node.url, resume('steady', answer));
    assert.deepEqual(next.messages, [{ id, data: 'between polls' }]);
    assert.equal(await connectionsOf(node.url, 'steady'), 1);
  });

  test('a server-side close between two polls ends the next poll with disconnect', async () => {
    const first = await poll(node.url, 'user=evicted');
    const closed = await request(`${node.url}/users/evicted/connections`, { method: 'DELETE' });
    assert.equal(closed.body.closed, 1, 'the session between polls is an open connection');
    const next = await poll(node.url, resume('evicted', first));
    assert.deepEqual(next.disconnect, { reason: 'closed-by-server', reconnect: false });
    assert.deepEqual(next.messages, []);
    // The session is gone: its id now starts a new one, as an unknown id does.
    const again = await poll(node.url, resume('evicted', first));
    assert.equal(again.disconnect, undefined);
    assert.ok(again.session !== undefined && again.session !== first.session, 'a new session');
  });

  test('a long-poll session goes offline after the linger passes without a poll', async () => {
    const first = await poll(node.url, 'user=gone');
    const answeredAt = Date.now();
    assert.equal(await connectionsOf(node.url, 'gone'), 1, 'online after the answer');
    await eventually(
      'offline once the linger passed',
      async () => (await connectionsOf(node.url, 'gone')) === 0,
    );
    assert.ok(Date.now() - answeredAt >= 500, 'not before the wait plus the grace (0.6 s)');
    const back = await poll(node.url, resume('gone', first));
    assert.equal(back.disconnect, undefined, 'an expired session is not an error');
    assert.ok(back.session !== undefined && back.session !== first.session, 'a new session');
    assert.equal(await connectionsOf(node.url, 'gone'), 1);
  });

  test("a poll with another user's session id does not adopt it", async () => {
    const alice = await poll(node.url, 'user=alice-s');
    assert.ok(alice.session !== undefined, 'a session');
    const bob = await poll(node.url, `user=bob-s&session=${encodeURIComponent(alice.session)}`);
    assert.ok(bob.session !== undefined && bob.session !== alice.session, 'bob gets a session of his own');
    // Nor does the same user with another set of groups.
    const grouped = await poll(
      node.url,
      `user=alice-s&group=extra&session=${encodeURIComponent(alice.session)}`,
    );
    assert.ok(
      grouped.session !== undefined && grouped.session !== alice.session,
      'other groups, other session',
    );
    assert.equal(await connectionsOf(node.url, 'bob-s'), 1);
    assert.equal(await connectionsOf(node.url, 'alice-s'), 2);
    // Ending bob's connections leaves alice's session alone, and it still answers alice's messages.
    await request(`${node.url}/users/bob-s/connections`, { method: 'DELETE' });
    const id = await publish(node.url, { to: { users: ['alice-s'] }, data: 'for alice' });
    const own = await poll(node.url, resume('alice-s', alice));
    assert.equal(own.session, alice.session);
    assert.equal(own.disconnect, undefined);
    assert.deepEqual(own.messages, [{ id, data: 'for alice' }]);
  });
});

describe('long-poll sessions under connection limits', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({
      pollTimeoutMs: 300,
      pollGraceMs: 300,
      maxConnectionsPerUser: 1,
      maxConnections: 2,
    });
  });
  after(() => closeHerald(node));

  const connectionsOf = async (user: string): Promise<number> =>
    (await getJson(`${node.url}/presence/users/${user}`)).body.connections;
  const statusOfStream = async (user: string): Promise<number> => {
    const stream = await openSse(`${node.url}/events?user=${user}`);
    stream.close();
    await eventually('the probe stream is gone', async () => (await connectionsOf(user)) < 2);
    return stream.status;
  };

  test('the per-user limit counts a session once across many polls and releases it once when it ends', async () => {
    const first = await poll(node.url, 'user=lim');
    let answer = first;
    for (let i = 0; i < 3; i++) {
      answer = await poll(node.url, `user=lim&session=${first.session}&${after_(answer.lastEventId)}`);
      assert.equal(answer.session, first.session, 'one session, not a slot per poll');
    }
    const refused = await openSse(`${node.url}/events?user=lim`);
    refused.close();
    assert.equal(refused.status, 429, "between polls the session holds the user's one slot");
    // A server-side close ends the session and frees its slot.
    await request(`${node.url}/users/lim/connections`, { method: 'DELETE' });
    const told = await poll(node.url, `user=lim&session=${first.session}&${after_(answer.lastEventId)}`);
    assert.equal(told.disconnect?.reason, 'closed-by-server');
    // Freed exactly once: two streams fill the node's two slots and a third is refused.
    const a = await openSse(`${node.url}/events?user=lim`);
    const b = await openSse(`${node.url}/events?user=other`);
    await Promise.all([a.waitFor(1), b.waitFor(1)]);
    const full = await openSse(`${node.url}/events?user=third`);
    full.close();
    assert.deepEqual([a.status, b.status, full.status], [200, 200, 503]);
    a.close();
    b.close();
    await eventually(
      'the streams closed',
      async () => (await connectionsOf('lim')) + (await connectionsOf('other')) === 0,
    );
    // A session that lingers out frees its slot too.
    await poll(node.url, 'user=lim');
    assert.equal(await statusOfStream('lim'), 429, 'the new session holds the slot');
    await eventually('the session lingered out', async () => (await connectionsOf('lim')) === 0);
    assert.equal(await statusOfStream('lim'), 200, 'its slot is free again');
  });
});
