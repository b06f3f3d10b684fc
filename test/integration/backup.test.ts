import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sqliteDriver } from '../../src/backends/sqlite/driver.js';
import { bearer, publishAs, request } from '../helpers/auth.js';
import { startHerald, startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { openSse } from '../helpers/sse-client.js';

describe('GET /admin/api/backup: a copy of the SQLite log while the node runs', () => {
  let dir: string;
  let node: TestHerald;
  const ids: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-backup-test-'));
    node = await startSecureHerald({ log: `sqlite:${join(dir, 'live.db')}` });
    for (const data of ['one', 'two', 'three'])
      ids.push(await publishAs(node.url, TEST_KEYS.publishKey, { to: { users: ['kim'] }, data }));
  });
  after(async () => {
    await node.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('needs the admin key: 401 without a credential, 403 with the publish key', async () => {
    assert.equal((await request(`${node.url}/admin/api/backup`)).status, 401);
    const withPublishKey = await request(`${node.url}/admin/api/backup`, {
      headers: bearer(TEST_KEYS.publishKey),
    });
    assert.equal(withPublishKey.status, 403);
  });

  test('answers a SQLite file holding every acknowledged message, without the epoch; the node goes on', async () => {
    const response = await fetch(`${node.url}/admin/api/backup`, { headers: bearer(TEST_KEYS.adminKey) });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/vnd.sqlite3');
    assert.match(response.headers.get('content-disposition') ?? '', /^attachment; filename="herald-.+\.db"$/);
    const copy = join(dir, 'copy.db');
    await writeFile(copy, Buffer.from(await response.arrayBuffer()));
    const db = new (sqliteDriver())(copy, { readonly: true });
    try {
      assert.deepEqual(db.prepare('SELECT data FROM messages ORDER BY seq').pluck().all(), [
        'one',
        'two',
        'three',
      ]);
      assert.equal(db.prepare("SELECT value FROM meta WHERE key = 'epoch'").pluck().get(), undefined);
    } finally {
      db.close();
    }
    // The live file is still this node's: it publishes on.
    await publishAs(node.url, TEST_KEYS.publishKey, { to: { users: ['kim'] }, data: 'four' });
  });

  test('a node restored from the copy starts a new epoch: an id from before gets a gap, not a replay', async () => {
    const response = await fetch(`${node.url}/admin/api/backup`, { headers: bearer(TEST_KEYS.adminKey) });
    const restored = join(dir, 'restored.db');
    await writeFile(restored, Buffer.from(await response.arrayBuffer()));
    const other = await startHerald({ log: `sqlite:${restored}` });
    try {
      const stream = await openSse(`${other.url}/events?user=kim`, { 'last-event-id': ids[0] as string });
      const [first] = await stream.waitFor(1, (e) => e.event !== 'connected');
      assert.equal(first?.event, 'gap');
      assert.equal(JSON.parse(first?.data ?? '{}').reason, 'unknown-id');
      stream.close();
    } finally {
      await other.close();
    }
  });

  test('a log without a file (memory) answers 404 with a problem saying so', async () => {
    const memory = await startSecureHerald();
    try {
      const { status, body } = await request(`${memory.url}/admin/api/backup`, {
        headers: bearer(TEST_KEYS.adminKey),
      });
      assert.equal(status, 404);
      assert.equal(body.status, 404);
      assert.match(body.detail, /no file to back up/);
    } finally {
      await memory.close();
    }
  });
});
