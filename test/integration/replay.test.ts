import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

describe('replay after Last-Event-ID', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({ historySize: 50 });
  });
  after(() => node.close());

  test('every event carries an id and the connected event gives the resume point', async () => {
    const stream = await openSse(`${node.url}/events?user=ids`);
    const [connected] = await stream.waitFor(1);
    assert.equal(connected?.event, 'connected');
    assert.ok(connected?.id, 'connected event has an id');
    await publish(node.url, { to: { users: ['ids'] }, data: 'one' });
    const [message] = await stream.waitFor(1, isMessage);
    assert.ok(message?.id);
    stream.close();
  });

  test('a reconnect with the Last-Event-ID header replays exactly the missed messages in order', async () => {
    const first = await openSse(`${node.url}/events?user=bob`);
    await publish(node.url, { to: { users: ['bob'] }, data: 'm1' });
    await first.waitFor(1, isMessage);
    const resumeFrom = first.lastEventId() as string;
    first.close();
    await first.ended;
    for (const data of ['m2', 'm3', 'm4']) await publish(node.url, { to: { users: ['bob'] }, data });
    await publish(node.url, { to: { users: ['someone-else'] }, data: 'not for bob' });
    const second = await openSse(`${node.url}/events?user=bob`, { 'last-event-id': resumeFrom });
    await publish(node.url, { to: { users: ['bob'] }, data: 'm5' });
    const received = await second.waitFor(4, isMessage);
    assert.deepEqual(
      received.map((e) => e.data),
      ['m2', 'm3', 'm4', 'm5'],
    );
    assert.equal(second.events.filter((e) => e.event === 'gap').length, 0);
    second.close();
  });

  test('the lastEventId query parameter works like the header', async () => {
    const first = await openSse(`${node.url}/events?user=carol`);
    const [connected] = await first.waitFor(1);
    first.close();
    await publish(node.url, { to: { users: ['carol'] }, data: 'while away' });
    const second = await openSse(
      `${node.url}/events?user=carol&lastEventId=${encodeURIComponent(connected?.id ?? '')}`,
    );
    const [message] = await second.waitFor(1, isMessage);
    assert.equal(message?.data, 'while away');
    second.close();
  });

  test('an unknown id yields a gap event, then live messages', async () => {
    const stream = await openSse(`${node.url}/events?user=dave`, { 'last-event-id': '12345-999' });
    const [gap] = await stream.waitFor(1, (e) => e.event === 'gap');
    assert.equal(JSON.parse(gap?.data ?? '').reason, 'unknown-id');
    await publish(node.url, { to: { users: ['dave'] }, data: 'live' });
    const [live] = await stream.waitFor(1, isMessage);
    assert.equal(live?.data, 'live');
    stream.close();
  });

  test('an id older than the retained history yields a gap event', async () => {
    const first = await openSse(`${node.url}/events?user=erin`);
    const [connected] = await first.waitFor(1);
    first.close();
    const ids = [];
    for (let i = 0; i < 60; i++)
      ids.push(await publish(node.url, { to: { users: ['erin'] }, data: `m${i}` }));
    const second = await openSse(`${node.url}/events?user=erin`, { 'last-event-id': connected?.id ?? '' });
    const [gap] = await second.waitFor(1, (e) => e.event === 'gap');
    assert.equal(JSON.parse(gap?.data ?? '').reason, 'expired');
    assert.equal(second.events.filter(isMessage).length, 0, 'no partial replay after a gap');
    second.close();
  });

  test('a publisher-chosen id is the SSE id and a valid resume point; reusing it is a 409', async () => {
    const stream = await openSse(`${node.url}/events?user=frank`);
    await publish(node.url, { to: { users: ['frank'] }, id: 'order-17', data: 'a' });
    const [message] = await stream.waitFor(1, isMessage);
    assert.equal(message?.id, 'order-17');
    stream.close();
    const duplicate = await postJson(`${node.url}/messages`, {
      to: { users: ['frank'] },
      id: 'order-17',
      data: 'b',
    });
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.type, '/problems/duplicate-id');
    await publish(node.url, { to: { users: ['frank'] }, data: 'after' });
    const resumed = await openSse(`${node.url}/events?user=frank`, { 'last-event-id': 'order-17' });
    const [replayed] = await resumed.waitFor(1, isMessage);
    assert.equal(replayed?.data, 'after');
    resumed.close();
  });

  test('an id from before a restart is a gap, never a replay of the new epoch', async () => {
    const first = await startHerald();
    const stream = await openSse(`${first.url}/events?user=gina`);
    await publish(first.url, { to: { users: ['gina'] }, data: 'old' });
    await stream.waitFor(1, isMessage);
    const oldId = stream.lastEventId() as string;
    stream.close();
    await first.close();
    const second = await startHerald();
    await publish(second.url, { to: { users: ['gina'] }, data: 'new 1' });
    await publish(second.url, { to: { users: ['gina'] }, data: 'new 2' });
    const resumed = await openSse(`${second.url}/events?user=gina`, { 'last-event-id': oldId });
    const [gap] = await resumed.waitFor(1, (e) => e.event === 'gap');
    assert.equal(JSON.parse(gap?.data ?? '').reason, 'unknown-id');
    assert.equal(resumed.events.filter(isMessage).length, 0);
    resumed.close();
    await second.close();
  });

  test('reconnecting while messages are being published loses none and duplicates none', async () => {
    const total = 300;
    let stream = await openSse(`${node.url}/events?user=hank`);
    const seen: string[] = [];
    const publishing = (async () => {
      for (let i = 0; i < total; i++) await publish(node.url, { to: { users: ['hank'] }, data: String(i) });
    })();
    while (seen.length < total) {
      const batch = await stream.waitFor(1, isMessage, 10_000).catch(() => []);
      for (const event of stream.events.filter(isMessage)) seen.push(event.data);
      stream.events.length = 0;
      if (seen.length >= total || batch.length === 0) break;
      const resumeFrom = stream.lastEventId() as string;
      stream.close();
      await stream.ended;
      stream = await openSse(`${node.url}/events?user=hank`, { 'last-event-id': resumeFrom });
    }
    await publishing;
    stream.close();
    assert.deepEqual(
      seen,
      Array.from({ length: total }, (_, i) => String(i)),
    );
  });
});
