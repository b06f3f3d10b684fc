import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { bearer, request, tokenFor, until } from '../helpers/auth.js';
import { startHerald, startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { openSse, type SseConnection } from '../helpers/sse-client.js';

const PROBLEM = '/problems/';

async function openAs(node: TestHerald, user: string): Promise<SseConnection> {
  return openSse(`${node.url}/events`, bearer(await tokenFor(user)));
}

async function connectionsOf(node: TestHerald, user: string): Promise<number> {
  const { body } = await request(`${node.url}/presence/users/${user}`, {
    headers: bearer(TEST_KEYS.publishKey),
  });
  return body.connections as number;
}

/** Sends raw bytes and returns the raw answer (for requests `fetch` refuses to build). */
function rawRequest(node: TestHerald, text: string): Promise<string> {
  const { hostname, port } = new URL(node.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.end(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

const bodyOf = (raw: string): Record<string, unknown> => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));

describe('connection limits', () => {
  test('one user past the per-user limit gets 429 with Retry-After; a closed stream frees its slot', async () => {
    const node = await startSecureHerald({ maxConnectionsPerUser: 2 });
    try {
      const streams = [await openAs(node, 'alice'), await openAs(node, 'alice')];
      const refused = await request(`${node.url}/events`, { headers: bearer(await tokenFor('alice')) });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.type, `${PROBLEM}too-many-connections`);
      assert.equal(refused.body.scope, 'user');
      assert.match(refused.body.detail, /user "alice" already has 2 open connections \(limit 2\)/);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      const bob = await openAs(node, 'bob');
      assert.equal(bob.status, 200, 'other users are not affected');
      streams[0]?.close();
      await until(async () => (await connectionsOf(node, 'alice')) === 1);
      const again = await openAs(node, 'alice');
      assert.equal(again.status, 200);
      // A server-side close frees the slots too.
      await request(`${node.url}/users/alice/connections`, {
        method: 'DELETE',
        headers: bearer(TEST_KEYS.adminKey),
      });
      await until(async () => (await connectionsOf(node, 'alice')) === 0);
      const afterClose = [await openAs(node, 'alice'), await openAs(node, 'alice')];
      assert.deepEqual(
        afterClose.map((s) => s.status),
        [200, 200],
      );
      for (const s of [...streams, bob, again, ...afterClose]) s.close();
    } finally {
      await node.close();
    }
  });

  test('refused tokens never take a slot', async () => {
    const node = await startSecureHerald({ maxConnectionsPerIp: 1 });
    try {
      for (let i = 0; i < 5; i++)
        assert.equal((await request(`${node.url}/events`, { headers: bearer('x') })).status, 401);
      const stream = await openAs(node, 'alice');
      assert.equal(stream.status, 200);
      stream.close();
    } finally {
      await node.close();
    }
  });

  test('one address past the per-address limit gets 429, whatever the users', async () => {
    const node = await startSecureHerald({ maxConnectionsPerIp: 3 });
    try {
      const streams = [await openAs(node, 'u1'), await openAs(node, 'u2'), await openAs(node, 'u3')];
      const refused = await request(`${node.url}/events`, { headers: bearer(await tokenFor('u4')) });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.scope, 'ip');
      assert.match(refused.body.detail, /address .* already has 3 open connections \(limit 3\)/);
      for (const s of streams) s.close();
    } finally {
      await node.close();
    }
  });

  test('past the node ceiling a stream gets 503 server-full with Retry-After, on every stream route', async () => {
    const node = await startSecureHerald({ maxConnections: 2 });
    try {
      const streams = [await openAs(node, 'u1'), await openAs(node, 'u2')];
      const refused = await request(`${node.url}/events`, { headers: bearer(await tokenFor('u3')) });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.type, `${PROBLEM}server-full`);
      assert.ok(refused.headers.get('retry-after'));
      const classic = await request(`${node.url}/sse/subscribe/u3`, {
        headers: bearer(await tokenFor('u3')),
      });
      assert.equal(classic.status, 503);
      for (const s of streams) s.close();
    } finally {
      await node.close();
    }
  });
});

describe('publish rate limit', () => {
  test('a publisher past its burst gets 429 with Retry-After; other publishers are not affected', async () => {
    const node = await startSecureHerald({ publishRate: 1, publishBurst: 5 });
    try {
      const send = (key: string, body: unknown) =>
        request(`${node.url}/messages`, { headers: bearer(key), body });
      const one = { to: { users: ['a'] }, data: 'x' };
      assert.equal(
        (await send(TEST_KEYS.publishKey, [one, one, one])).status,
        202,
        'a batch counts its messages',
      );
      assert.equal((await send(TEST_KEYS.publishKey, one)).status, 202);
      assert.equal((await send(TEST_KEYS.publishKey, one)).status, 202);
      const limited = await send(TEST_KEYS.publishKey, one);
      assert.equal(limited.status, 429);
      assert.equal(limited.body.type, `${PROBLEM}too-many-requests`);
      assert.match(limited.body.detail, /1 messages per second \(burst 5\)/);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      const classic = await request(`${node.url}/sse/sendMessage?userId=a&message=x`, {
        headers: bearer(TEST_KEYS.publishKey),
      });
      assert.equal(classic.status, 429, 'the classic send route shares the limit');
      assert.equal((await send(TEST_KEYS.adminKey, one)).status, 202);
      assert.equal((await send(await tokenFor('svc', { publish: true }), one)).status, 202);
    } finally {
      await node.close();
    }
  });
});

describe('CORS', () => {
  const preflight = (node: TestHerald, origin: string) =>
    fetch(`${node.url}/messages`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });

  test('production mode allows only the listed origins, with credentials', async () => {
    const node = await startSecureHerald({ corsOrigins: ['https://app.example'] });
    try {
      const allowed = await preflight(node, 'https://app.example');
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
      const other = await preflight(node, 'https://evil.example');
      assert.equal(other.headers.get('access-control-allow-origin'), null);
      const stream = await openSse(`${node.url}/events`, {
        ...bearer(await tokenFor('alice')),
        origin: 'https://app.example',
      });
      assert.equal(
        stream.headers['access-control-allow-origin'],
        'https://app.example',
        'streams carry CORS headers',
      );
      stream.close();
    } finally {
      await node.close();
    }
  });

  test('production mode without a list is same-origin only; development mode is open', async () => {
    const closed = await startSecureHerald();
    const open = await startHerald();
    try {
      assert.equal(
        (await preflight(closed, 'https://app.example')).headers.get('access-control-allow-origin'),
        null,
      );
      assert.equal(
        (await preflight(open, 'https://anything.example')).headers.get('access-control-allow-origin'),
        'https://anything.example',
      );
    } finally {
      await closed.close();
      await open.close();
    }
  });
});

describe('request size limits and validation messages', () => {
  test('oversized headers are a 431 and a long URL a 414, both problem bodies; the node stays up', async () => {
    const node = await startSecureHerald({ maxHeaderBytes: 8192, maxUrlLength: 2048 });
    try {
      const bigHeader = await rawRequest(
        node,
        `GET /events HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(10_000)}\r\n\r\n`,
      );
      assert.match(bigHeader, /^HTTP\/1.1 431 /);
      assert.equal(bodyOf(bigHeader).type, `${PROBLEM}headers-too-large`);
      const longUrl = await request(`${node.url}/events?group=${'g'.repeat(3000)}`);
      assert.equal(longUrl.status, 414);
      assert.equal(longUrl.body.type, `${PROBLEM}uri-too-long`);
      assert.match(longUrl.body.detail, /at most 2048/);
      const garbage = await rawRequest(node, 'NOT HTTP AT ALL\r\n\r\n');
      assert.match(garbage, /^HTTP\/1.1 400 /);
      assert.ok(
        node.logs.some((line) => line.problem === 'headers-too-large'),
        'rejections are logged',
      );
      assert.equal((await request(`${node.url}/healthz`)).status, 200);
    } finally {
      await node.close();
    }
  });

  test('invalid ids, event names, groups and user ids get 400s that say what is wrong', async () => {
    const node = await startSecureHerald();
    try {
      const token = await tokenFor('alice', { groups: ['news'] });
      const badGroup = await request(`${node.url}/events?group=${encodeURIComponent('bad group')}`, {
        headers: bearer(token),
      });
      assert.equal(badGroup.status, 400);
      assert.match(badGroup.body.detail, /group may contain only letters, digits/);
      const cases: [unknown, RegExp][] = [
        [{ to: { users: ['a'] }, event: 'bad\nevent', data: 'x' }, /event must not contain CR, LF or NUL/],
        [{ to: { users: ['a'] }, event: 'connected', data: 'x' }, /reserved/],
        [{ to: { users: ['a'] }, id: '1-forged', data: 'x' }, /id must start with a letter or _/],
        [{ to: { users: ['x'.repeat(129)] }, data: 'x' }, /to.users\[0\] must be 1 to 128 characters/],
        [{ to: { groups: ['a/b'] }, data: 'x' }, /to.groups\[0\] may contain only/],
        [{ to: {}, data: 'x' }, /names no recipient/],
      ];
      for (const [body, detail] of cases) {
        const response = await request(`${node.url}/messages`, {
          headers: bearer(TEST_KEYS.publishKey),
          body,
        });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.match(response.body.detail, detail);
      }
      const badPath = await request(`${node.url}/presence/users/${encodeURIComponent('a b')}`, {
        headers: bearer(TEST_KEYS.publishKey),
      });
      assert.equal(badPath.status, 400);
      assert.match(badPath.body.detail, /user id may contain only/);
    } finally {
      await node.close();
    }
  });
});
