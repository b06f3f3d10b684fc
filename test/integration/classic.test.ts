import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLASSIC_GREETING } from '../../src/adapters/classic.js';
import { getJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

describe('the classic /sse API', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald();
  });
  after(() => node.close());

  test('a classic subscription first receives the plain 连接成功 message', async () => {
    const stream = await openSse(`${node.url}/sse/subscribe/1700000000001`);
    const [greeting] = await stream.waitFor(1, isMessage);
    assert.equal(greeting?.event, 'message');
    assert.equal(greeting?.data, CLASSIC_GREETING);
    assert.equal(CLASSIC_GREETING, '连接成功');
    stream.close();
  });

  test('sendMessage, groupSendMessage (id prefix) and batchSendMessage reach the right users as plain messages', async () => {
    const a = await openSse(`${node.url}/sse/subscribe/17000001`);
    const b = await openSse(`${node.url}/sse/subscribe/17000002`);
    const c = await openSse(`${node.url}/sse/subscribe/18000003`);
    await Promise.all([a, b, c].map((s) => s.waitFor(1, isMessage)));
    const send = async (path: string): Promise<void> => {
      const { status } = await getJson(`${node.url}${path}`);
      assert.equal(status, 200);
    };
    await send(`/sse/sendMessage?userId=17000001&message=${encodeURIComponent('just you')}`);
    await send('/sse/groupSendMessage?groupId=1700&message=group');
    await send('/sse/batchSendMessage?message=everyone');
    const texts = async (s: typeof a, n: number): Promise<string[]> =>
      (await s.waitFor(n, isMessage)).slice(1).map((e) => e.data);
    assert.deepEqual(await texts(a, 4), ['just you', 'group', 'everyone']);
    assert.deepEqual(await texts(b, 3), ['group', 'everyone']);
    assert.deepEqual(await texts(c, 2), ['everyone']);
    for (const event of a.events.filter(isMessage)) assert.equal(event.event, 'message');
    for (const s of [a, b, c]) s.close();
  });

  test('getUserCount counts distinct users, and close ends every connection of one', async () => {
    const tabs = await Promise.all([1, 2].map(() => openSse(`${node.url}/sse/subscribe/counted-1`)));
    const other = await openSse(`${node.url}/sse/subscribe/counted-2`);
    await Promise.all([...tabs, other].map((s) => s.waitFor(1, isMessage)));
    assert.equal((await getJson(`${node.url}/sse/getUserCount`)).body, 2);
    const closed = await getJson(`${node.url}/sse/close/counted-1`);
    assert.deepEqual(closed.body, { user: 'counted-1', closed: 2 });
    await Promise.all(tabs.map((t) => t.ended));
    assert.equal((await getJson(`${node.url}/sse/getUserCount`)).body, 1);
    other.close();
  });

  test('both APIs share one hub: each reaches subscribers of the other', async () => {
    const classic = await openSse(`${node.url}/sse/subscribe/shared-1`);
    const native = await openSse(`${node.url}/events?user=shared-2`);
    await classic.waitFor(1, isMessage);
    await native.waitFor(1);
    await publish(node.url, { to: { users: ['shared-1'] }, data: 'from the native API' });
    await getJson(`${node.url}/sse/sendMessage?userId=shared-2&message=from%20the%20classic%20API`);
    assert.equal((await classic.waitFor(2, isMessage))[1]?.data, 'from the native API');
    assert.equal((await native.waitFor(1, isMessage))[0]?.data, 'from the classic API');
    classic.close();
    native.close();
  });

  test('classic sends without a message are a 400 naming the parameter', async () => {
    const { status, body } = await getJson(`${node.url}/sse/sendMessage?userId=x`);
    assert.equal(status, 400);
    assert.equal(body.field, 'message');
  });
});
