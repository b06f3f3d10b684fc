import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as ClientModule from '../../client/dist/types/client/src/index.js';
import type { HeraldMessage } from '../../client/dist/types/client/src/index.js';
import { eventually } from '../helpers/eventually.js';
import { getJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';

/** The shipped bundle (what `/herald.js` serves). */
const BUNDLE = pathToFileURL(fileURLToPath(new URL('../../../client/dist/herald.js', import.meta.url))).href;

async function setGroups(base: string, user: string, body: unknown, method = 'PATCH'): Promise<void> {
  const response = await fetch(`${base}/users/${user}/groups`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200);
  await response.body?.cancel();
}

describe('the client with inboxes and server-side groups (in Node)', () => {
  let node: TestHerald;
  let herald: typeof ClientModule;
  before(async () => {
    node = await startHerald({ retryMs: 100 });
    herald = (await import(BUNDLE)) as typeof ClientModule;
  });
  after(async () => {
    const closing = node.close();
    (node.herald.app.server as http.Server).closeAllConnections();
    await closing;
  });

  test('acknowledges an inbox message once its handlers ran, so the next device is not sent it', async () => {
    const id = await publish(node.url, { to: { users: ['ida'] }, data: 'while you were away', ttl: 3600 });
    const client = herald.connect(node.url, { user: 'ida' });
    const seen: HeraldMessage[] = [];
    const counts: number[] = [];
    client.on('message', (m) => seen.push(m));
    client.on('inbox', ({ unread }) => counts.push(unread));
    await eventually('the inbox message, then the count after its acknowledgement', () => counts.includes(0));
    assert.deepEqual(
      seen.map((m) => [m.id, m.data]),
      [[id, 'while you were away']],
    );
    assert.deepEqual(counts, [1, 0]);
    assert.equal(client.unread, 0);
    assert.equal((await getJson(`${node.url}/users/ida/inbox`)).body.unread, 0);
    client.close();
  });

  test('with autoAck off, messages stay unread until the page acknowledges them', async () => {
    const id = await publish(node.url, { to: { users: ['manual'] }, data: 'keep me', ttl: 3600 });
    const client = herald.connect(node.url, { user: 'manual', autoAck: false });
    const seen: string[] = [];
    client.on('message', (m) => seen.push(m.id));
    await eventually('the inbox message', () => seen.length === 1 && client.unread === 1);
    assert.equal((await getJson(`${node.url}/users/manual/inbox`)).body.unread, 1);
    await client.ack([id]);
    await eventually('the count after the acknowledgement', () => client.unread === 0);
    client.close();
  });

  test('exposes its groups and fires groups when the backend changes them, receiving the new groups at once', async () => {
    const client = herald.connect(node.url, { user: 'gwen', groups: ['own'] });
    const changes: (readonly string[])[] = [];
    const seen: string[] = [];
    client.on('groups', (groups) => changes.push(groups));
    client.on('message', (m) => seen.push(String(m.data)));
    await eventually('open', () => client.state === 'open');
    await setGroups(node.url, 'gwen', { add: ['team'] });
    await eventually('the groups event', () => changes.length === 1);
    assert.deepEqual([...(client.groups ?? [])].sort(), ['own', 'team']);
    await publish(node.url, { to: { groups: ['team'] }, data: 'to the team' });
    await eventually('the team message', () => seen.includes('to the team'));
    await setGroups(node.url, 'gwen', { remove: ['team'] });
    await eventually('the second groups event', () => changes.length === 2);
    assert.deepEqual(client.groups, ['own']);
    client.close();
  });
});
