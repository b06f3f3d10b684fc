import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as ClientModule from '../../client/dist/types/client/src/index.js';
import type { HeraldClient, HeraldMessage } from '../../client/dist/types/client/src/index.js';
import { eventually } from '../helpers/eventually.js';
import { postJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';

/** The shipped bundle (what `/herald.js` serves), not the sources: the test covers what users run. */
const BUNDLE = pathToFileURL(fileURLToPath(new URL('../../../client/dist/herald.js', import.meta.url))).href;

/** Everything a client reported, for assertions. */
function record(client: HeraldClient) {
  const seen = {
    messages: [] as HeraldMessage[],
    states: [] as string[],
    gaps: [] as unknown[],
    disconnects: [] as unknown[],
  };
  client.on('*', (m) => seen.messages.push(m));
  client.on('state', (s) => seen.states.push(s));
  client.on('gap', (g) => seen.gaps.push(g));
  client.on('disconnect', (d) => seen.disconnects.push(d));
  return seen;
}

describe('the client in Node (fetch streaming, no tabs)', () => {
  let node: TestHerald;
  let herald: typeof ClientModule;
  before(async () => {
    node = await startHerald({ retryMs: 100, pollTimeoutMs: 2000 });
    herald = (await import(BUNDLE)) as typeof ClientModule;
  });
  after(async () => {
    const closing = node.close();
    (node.herald.app.server as http.Server).closeAllConnections();
    await closing;
  });

  test('receives text and JSON, per event name, and reports its state', async () => {
    const client = herald.connect(node.url, { user: 'nodey', groups: ['news'] });
    const seen = record(client);
    const chats: unknown[] = [];
    client.on('chat', (m) => chats.push(m.data));
    await eventually('open', () => client.state === 'open');
    assert.equal(client.transport, 'fetch');
    assert.equal(client.leader, true);
    await publish(node.url, { to: { users: ['nodey'] }, data: 'plain text' });
    await publish(node.url, { to: { users: ['nodey'] }, event: 'chat', data: { text: 'hi', n: 2 } });
    await publish(node.url, { to: { groups: ['news'] }, data: '{"looks":"like json"}' });
    await eventually('three messages', () => seen.messages.length === 3);
    assert.deepEqual(
      seen.messages.map((m) => [m.event, m.data]),
      [
        ['message', 'plain text'],
        ['chat', { text: 'hi', n: 2 }],
        ['message', '{"looks":"like json"}'],
      ],
    );
    assert.deepEqual(chats, [{ text: 'hi', n: 2 }]);
    assert.equal(client.lastEventId, seen.messages[2]?.id);
    client.close();
    assert.equal(client.state, 'closed');
    assert.deepEqual(seen.states, ['open', 'closed']);
  });

  test('resumes after the server drops it, without loss or duplicates; stops when told not to reconnect', async () => {
    const client = herald.connect(node.url, { user: 'resumer' });
    const seen = record(client);
    await eventually('open', () => client.state === 'open');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(await publish(node.url, { to: { users: ['resumer'] }, data: `a${i}` }));
    await eventually('first batch', () => seen.messages.length === 5);
    // A slow-consumer style drop: the server destroys the socket; the client resumes from its last id.
    for (const sub of node.herald.hub.connectionsOf('resumer'))
      node.herald.hub.end(sub, {
        code: 'test-drop',
        reconnect: true,
        notify: false,
      });
    for (let i = 5; i < 10; i++)
      ids.push(await publish(node.url, { to: { users: ['resumer'] }, data: `a${i}` }));
    await eventually('second batch', () => seen.messages.length === 10);
    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ids,
    );
    const closed = await postJson(`${node.url}/messages`, { to: { users: ['resumer'] }, data: 'last' });
    assert.equal(closed.status, 202);
    await eventually('eleven', () => seen.messages.length === 11);
    const kick = await fetch(`${node.url}/users/resumer/connections`, { method: 'DELETE' });
    assert.equal(kick.status, 200);
    await eventually('closed by the server', () => client.state === 'closed');
    assert.deepEqual(seen.disconnects, [{ reason: 'closed-by-server', reconnect: false }]);
  });

  test('long-polling delivers the same messages in the same order as streaming', async () => {
    const streaming = herald.connect(node.url, { user: 'twin', groups: ['g'] });
    const polling = herald.connect(node.url, { user: 'twin', groups: ['g'], transport: 'poll' });
    const a = record(streaming);
    const b = record(polling);
    await eventually('both open', () => streaming.state === 'open' && polling.state === 'open');
    assert.equal(polling.transport, 'poll');
    for (let i = 0; i < 20; i++) {
      await publish(node.url, { to: i % 2 ? { groups: ['g'] } : { users: ['twin'] }, data: { i } });
    }
    await eventually('twenty each', () => a.messages.length === 20 && b.messages.length === 20);
    assert.deepEqual(b.messages, a.messages);
    streaming.close();
    polling.close();
  });
});
