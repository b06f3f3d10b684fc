import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bearer, request, tokenFor } from '../helpers/auth.js';
import { eventually } from '../helpers/eventually.js';
import { publish, startHerald, startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

const admin = bearer(TEST_KEYS.adminKey);

describe('admin API in production mode', () => {
  let node: TestHerald;
  before(async () => {
    node = await startSecureHerald();
  });
  after(() => node.close());

  test('every admin route needs the admin key: 401 without a credential, 403 with the publish key', async () => {
    const routes: [string, string][] = [
      ['GET', '/admin/api/stats'],
      ['GET', '/admin/api/users?prefix=a'],
      ['GET', '/admin/api/users/alice'],
      ['DELETE', '/admin/api/users/alice/connections'],
      ['POST', '/admin/api/messages'],
      ['GET', '/admin/stream'],
    ];
    for (const [method, path] of routes) {
      const body = method === 'POST' ? { to: { all: true }, data: 'x' } : undefined;
      const none = await request(`${node.url}${path}`, { method, body });
      assert.equal(none.status, 401, `${method} ${path} without a credential`);
      const publisher = await request(`${node.url}${path}`, {
        method,
        body,
        headers: bearer(TEST_KEYS.publishKey),
      });
      assert.equal(publisher.status, 403, `${method} ${path} with the publish key`);
    }
  });

  test('a token with the admin claim opens the admin API and may publish; a publish token may not', async () => {
    const adminToken = await tokenFor('ops', { admin: true });
    const stats = await request(`${node.url}/admin/api/stats`, { headers: bearer(adminToken) });
    assert.equal(stats.status, 200);
    const metrics = await fetch(`${node.url}/metrics`, { headers: bearer(adminToken) });
    assert.equal(metrics.status, 200);
    const published = await request(`${node.url}/messages`, {
      method: 'POST',
      body: { to: { all: true }, data: 'from an operator' },
      headers: bearer(adminToken),
    });
    assert.equal(published.status, 202);
    const publishToken = await tokenFor('backend', { publish: true });
    const refused = await request(`${node.url}/admin/api/stats`, { headers: bearer(publishToken) });
    assert.equal(refused.status, 403);
    assert.match(refused.body.detail, /admin permission/);
  });

  test('a user search lists each connection: node, since, transport, remote address', async () => {
    const token = await tokenFor('ada');
    const sub = await openSse(`${node.url}/events`, bearer(token));
    await sub.waitFor(1);
    const { status, body } = await request(`${node.url}/admin/api/users?prefix=ad`, { headers: admin });
    assert.equal(status, 200);
    assert.equal(body.users.length, 1);
    const [user] = body.users;
    assert.equal(user.id, 'ada');
    assert.equal(user.online, true);
    const [connection] = user.connectionList;
    assert.equal(connection.node, node.herald.nodeId);
    assert.equal(connection.transport, 'sse');
    assert.equal(connection.remoteAddress, '127.0.0.1');
    assert.ok(Date.now() - Date.parse(connection.since) < 60_000);
    const one = await request(`${node.url}/admin/api/users/ada`, { headers: admin });
    assert.equal(one.body.connectionList[0].id, connection.id);

    const closed = await request(`${node.url}/admin/api/users/ada/connections`, {
      method: 'DELETE',
      headers: admin,
    });
    assert.deepEqual(closed.body, { user: 'ada', closed: 1 });
    const [bye] = await sub.waitFor(1, (e) => e.event === 'disconnect');
    assert.deepEqual(JSON.parse(bye?.data ?? ''), { reason: 'closed-by-server', reconnect: false });
    await sub.ended;
    const after = await request(`${node.url}/admin/api/users/ada`, { headers: admin });
    assert.equal(after.body.online, false);
  });

  test('a message sent through the admin API reaches its subscriber', async () => {
    const sub = await openSse(`${node.url}/events`, bearer(await tokenFor('bo')));
    await sub.waitFor(1);
    const sent = await request(`${node.url}/admin/api/messages`, {
      headers: admin,
      body: { to: { users: ['bo'] }, event: 'note', data: { text: 'hello' } },
    });
    assert.equal(sent.status, 202);
    const [message] = await sub.waitFor(1, isMessage);
    assert.equal(message?.id, sent.body.id);
    assert.equal(message?.event, 'note');
    assert.equal(message?.data, '{"text":"hello"}');
    const invalid = await request(`${node.url}/admin/api/messages`, { headers: admin, body: { data: 'x' } });
    assert.equal(invalid.status, 400);
    sub.close();
  });

  test('a message sent through the admin API keeps to --inbox-max-ttl, as POST /messages does', async () => {
    const short = await startSecureHerald({ inboxMaxTtlMs: 3_600_000 });
    try {
      const send = (ttl: number) =>
        request(`${short.url}/admin/api/messages`, {
          headers: admin,
          body: { to: { users: ['bo'] }, data: 'x', ttl },
        });
      assert.equal((await send(3600)).status, 202);
      const tooLong = await send(3601);
      assert.equal(tooLong.status, 400);
      assert.equal(tooLong.body.field, 'ttl');
      assert.equal(tooLong.body.maxTtl, 3600);
    } finally {
      await short.close();
    }
  });
});

describe('admin stream and page', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald();
  });
  after(() => node.close());

  test('the stream says hello, then a stats sample every second and a tail without payloads', async () => {
    const stream = await openSse(`${node.url}/admin/stream`);
    assert.equal(stream.status, 200);
    const [hello] = await stream.waitFor(1, (e) => e.event === 'hello');
    assert.equal(JSON.parse(hello?.data ?? '').node, node.herald.nodeId);
    const id = await publish(node.url, { to: { groups: ['g1'] }, event: 'e', data: 'secret payload' });
    const [tail] = await stream.waitFor(1, (e) => e.event === 'tail', 3000);
    const entry = JSON.parse(tail?.data ?? '').messages[0];
    assert.deepEqual(
      { id: entry.id, topics: entry.topics, event: entry.event, size: entry.size, data: entry.data },
      { id, topics: ['group:g1'], event: 'e', size: 14, data: undefined },
    );
    const [stats] = await stream.waitFor(1, (e) => e.event === 'stats');
    const sample = JSON.parse(stats?.data ?? '');
    assert.equal(sample.nodes[0].id, node.herald.nodeId);
    assert.equal(sample.totals.published, 1);
    assert.ok(sample.nodes[0].rssBytes > 0);
    stream.close();
  });

  test('with ?payloads=1 the tail shows the data', async () => {
    const stream = await openSse(`${node.url}/admin/stream?payloads=1`);
    await stream.waitFor(1, (e) => e.event === 'hello');
    await publish(node.url, { to: { all: true }, data: 'visible' });
    const [tail] = await stream.waitFor(1, (e) => e.event === 'tail', 3000);
    assert.equal(JSON.parse(tail?.data ?? '').messages[0].data, 'visible');
    stream.close();
  });

  test('the page and its chart library are served', async () => {
    const redirect = await fetch(`${node.url}/admin`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/admin/');
    const page = await fetch(`${node.url}/admin/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Herald admin/);
    const script = await fetch(`${node.url}/admin/vendor/uplot.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
    assert.equal((await fetch(`${node.url}/admin/vendor/other.js`)).status, 404);
  });
});

describe("with --web-root, the pages at / are yours and the dashboard stays Herald's", () => {
  let node: TestHerald;
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'herald-web-root-'));
    await writeFile(join(root, 'index.html'), '<!doctype html><title>my app</title><p>my own page</p>');
    // A page directory that has its own admin/ and herald.js does not shadow Herald's (nor stop the start).
    await mkdir(join(root, 'admin'));
    await writeFile(join(root, 'admin', 'index.html'), 'not the dashboard');
    await writeFile(join(root, 'herald.js'), 'not the client');
    node = await startSecureHerald({ webRoot: root });
  });
  after(async () => {
    await node?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('/ serves the web root, and /admin, its script, its chart library and /herald.js are still served', async () => {
    const home = await fetch(`${node.url}/`);
    assert.equal(home.status, 200);
    assert.match(await home.text(), /my own page/);
    const redirect = await fetch(`${node.url}/admin`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/admin/');
    for (const [path, type, text] of [
      ['/admin/', /^text\/html/, /Herald admin/],
      ['/admin/admin.js', /javascript/, /sessionStorage/],
      ['/admin/vendor/uplot.js', /javascript/, /uPlot/],
      ['/herald.js', /javascript/, /export/],
    ] as const) {
      const response = await fetch(`${node.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get('content-type') ?? '', type, path);
      assert.match(await response.text(), text, path);
    }
  });
});

describe('admin stream on the SSE transport', () => {
  test('the admin stream is an SSE stream like every other: close-delimited, its socket handed over, heartbeats, and a disconnect event at shutdown', async () => {
    const node = await startHerald({ heartbeatMs: 50 });
    const sockets: Socket[] = [];
    (node.herald.app.server as Server).on('connection', (socket: Socket) => sockets.push(socket));
    let closed = false;
    try {
      const stream = await openSse(`${node.url}/admin/stream`, { origin: 'http://app.example' });
      await stream.waitFor(1, (e) => e.event === 'hello');
      assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(stream.headers.connection, 'close');
      assert.equal(stream.headers['transfer-encoding'], undefined);
      assert.equal(stream.headers['access-control-allow-origin'], 'http://app.example');
      assert.match(String(stream.headers['x-request-id']), /./);
      assert.equal(stream.retries[0], 2000);
      const [socket] = sockets;
      assert.equal(
        (socket as Socket & { parser?: unknown }).parser,
        null,
        'handed over from the HTTP server',
      );
      await eventually('a heartbeat comment arrived', () => stream.comments.length > 0);
      await node.close();
      closed = true;
      const [bye] = await stream.waitFor(1, (e) => e.event === 'disconnect');
      assert.deepEqual(JSON.parse(bye?.data ?? ''), { reason: 'shutdown', reconnect: true });
      await stream.ended;
    } finally {
      if (!closed) await node.close();
    }
  });
});
