import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { bearer, tokenFor, until } from '../helpers/auth.js';
import { publish, startHerald, startSecureHerald, type TestHerald } from '../helpers/herald.js';
import { countFastifyHandlers } from '../helpers/raw-http.js';

/** What a raw `GET` received: the status and headers, and the body bytes up to a point. */
interface RawStream {
  readonly status: number;
  /** Header names lowercased; repeated ones joined with ", ". */
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly socket: net.Socket;
}

/**
 * Sends one raw `GET` and resolves once the head arrived and `until` holds of the body (a stream's first
 * frames), or the server closed the connection (a problem answer). `viaFastify` adds `Content-Length: 0`,
 * which the fast path leaves to Fastify, so one request sent both ways compares the two paths.
 */
function rawGet(
  url: string,
  path: string,
  options: { headers?: Record<string, string>; viaFastify?: boolean; until?: (body: string) => boolean } = {},
): Promise<RawStream> {
  const { hostname, port } = new URL(url);
  const headers = {
    host: 'test',
    ...options.headers,
    ...(options.viaFastify ? { 'content-length': '0' } : {}),
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  const socket = net.connect({ host: hostname, port: Number(port) }, () =>
    socket.write(`GET ${path} HTTP/1.1\r\n${head.join('')}\r\n`),
  );
  let received = '';
  return new Promise((resolve, reject) => {
    const check = (closed: boolean): void => {
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) {
        if (closed) reject(new Error(`closed without a head: ${JSON.stringify(received)}`));
        return;
      }
      const [statusLine, ...lines] = received.slice(0, end).split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        const value = line.slice(colon + 1).trim();
        parsed[name] = parsed[name] === undefined ? value : `${parsed[name]}, ${value}`;
      }
      const status = Number(statusLine?.split(' ')[1]);
      let body = received.slice(end + 4);
      const length = parsed['content-length'];
      if (length !== undefined) {
        if (Buffer.byteLength(body) < Number(length) && !closed) return;
        body = body.slice(0, Number(length));
      } else if (!closed && !(options.until ?? (() => true))(body)) return;
      socket.removeAllListeners('data');
      resolve({ status, headers: parsed, body, socket });
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      check(false);
    });
    socket.once('close', () => check(true));
    socket.once('error', reject);
  });
}

const greeted = (body: string): boolean => /event: connected\ndata: [^\n]*\n\n/.test(body);

/** The body with its connection id (one per stream) made neutral. */
const neutral = (body: string): string => body.replace(/"connectionId":"[^"]+"/g, '"connectionId":"*"');

/** The headers but those that differ per request (`Date`, the echoed `X-Request-Id`). */
function stable(headers: Record<string, string>): Record<string, string> {
  const { date: _date, 'x-request-id': _id, ...rest } = headers;
  return rest;
}

/** Sends `path` both ways and checks both answers are the same but for `Date`, the request id and the connection id. */
async function assertBothPathsAlike(
  node: TestHerald,
  path: string,
  status: number,
  headers: Record<string, string> = {},
): Promise<{ fast: RawStream; fastify: RawStream }> {
  const handlers = countFastifyHandlers();
  const fast = await rawGet(node.url, path, {
    headers: { ...headers, 'x-request-id': 'fast-1' },
    until: greeted,
  });
  const afterFast = handlers.count();
  const fastify = await rawGet(node.url, path, {
    headers: { ...headers, 'x-request-id': 'fastify-1' },
    viaFastify: true,
    until: greeted,
  });
  const afterFastify = handlers.count();
  handlers.stop();
  try {
    assert.equal(afterFast, 0, 'the plain GET /events never reached a Fastify handler');
    if (status !== 404) assert.equal(afterFastify, 1, 'the GET with Content-Length went through Fastify');
    assert.equal(fast.status, status, fast.body);
    assert.equal(fastify.status, status, fastify.body);
    assert.deepEqual(stable(fast.headers), stable(fastify.headers));
    assert.equal(fast.headers['x-request-id'], 'fast-1');
    assert.equal(fastify.headers['x-request-id'], 'fastify-1');
    assert.match(fast.headers.date ?? '', /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    assert.equal(neutral(fast.body), neutral(fastify.body));
  } finally {
    fast.socket.destroy();
    fastify.socket.destroy();
  }
  return { fast, fastify };
}

describe('GET /events fast path: the same streams and answers as Fastify', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({ maxConnectionsPerUser: 2 });
  });
  after(() => node.close());

  test('a plain GET /events opens the same stream without a Fastify handler: same head, same greeting', async () => {
    const { fast } = await assertBothPathsAlike(node, '/events?user=alike', 200);
    assert.equal(fast.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(fast.headers.connection, 'close');
    assert.equal(fast.headers['cache-control'], 'no-store');
    assert.equal(fast.headers['content-length'], undefined, 'a close-delimited body');
    assert.equal(fast.headers['transfer-encoding'], undefined, 'a close-delimited body');
  });

  test('a missing user and a bad group are the same 400 problem on both paths', async () => {
    await assertBothPathsAlike(node, '/events', 400);
    await assertBothPathsAlike(node, '/events?user=a&group=bad%20group', 400);
  });

  test('a message published after a fast-path connect reaches it, and Last-Event-ID replays what it missed', async () => {
    const live = await rawGet(node.url, '/events?user=fast-live', { until: greeted });
    const id = await publish(node.url, { to: { users: ['fast-live'] }, data: 'one' });
    let text = live.body;
    live.socket.on('data', (chunk: string) => {
      text += chunk;
    });
    await until(() => text.includes('data: one'));
    assert.ok(text.includes(`id: ${id}\n`));
    live.socket.destroy();
    const missed = await publish(node.url, { to: { users: ['fast-live'] }, data: 'two' });
    const back = await rawGet(node.url, '/events?user=fast-live', {
      headers: { 'last-event-id': id },
      until: (body) => body.includes('data: two'),
    });
    assert.ok(back.body.includes(`id: ${missed}\n`));
    assert.ok(!back.body.includes('data: one'), 'only what was missed');
    back.socket.destroy();
  });

  test('the per-user limit refuses a third fast-path stream with 429, and a closed stream frees its slot', async () => {
    const first = await rawGet(node.url, '/events?user=limited', { until: greeted });
    const second = await rawGet(node.url, '/events?user=limited', { until: greeted });
    const third = await rawGet(node.url, '/events?user=limited');
    assert.equal(third.status, 429);
    assert.match(JSON.parse(third.body).type, /\/too-many-connections$/);
    assert.ok(third.headers['retry-after'] !== undefined);
    third.socket.destroy();
    first.socket.destroy();
    await until(() => node.herald.hub.connectionCountOf('limited') === 1);
    const again = await rawGet(node.url, '/events?user=limited', { until: greeted });
    assert.equal(again.status, 200);
    second.socket.destroy();
    again.socket.destroy();
  });

  test('other paths, methods and a GET with a body are left to Fastify', async () => {
    const handlers = countFastifyHandlers();
    try {
      const trailing = await rawGet(node.url, '/events/?user=x');
      assert.equal(trailing.status, 404);
      trailing.socket.destroy();
      const prefixed = await rawGet(node.url, '/eventsx?user=x');
      assert.equal(prefixed.status, 404);
      prefixed.socket.destroy();
      const withBody = await rawGet(node.url, '/events?user=body', { viaFastify: true, until: greeted });
      assert.equal(withBody.status, 200);
      assert.equal(handlers.count(), 1, 'the GET with Content-Length reached the /events handler');
      withBody.socket.destroy();
    } finally {
      handlers.stop();
    }
  });
});

describe('GET /events fast path with tokens, CORS and a trusted proxy', () => {
  let node: TestHerald;
  before(async () => {
    node = await startSecureHerald({ corsOrigins: ['https://app.example'], trustProxy: true });
  });
  after(() => node.close());

  test('no token and a token for another user are the same 401 and 403 on both paths', async () => {
    await assertBothPathsAlike(node, '/events', 401);
    const token = await tokenFor('alice');
    await assertBothPathsAlike(node, '/events?user=bob', 403, bearer(token));
  });

  test('a token opens the same stream on both paths, with the CORS headers of a request without Origin', async () => {
    const token = await tokenFor('alice', { groups: ['team'] });
    await assertBothPathsAlike(node, '/events', 200, bearer(token));
  });

  test('a request from behind the trusted proxy goes to Fastify, which counts the forwarded address', async () => {
    const handlers = countFastifyHandlers();
    const token = await tokenFor('carol');
    const stream = await rawGet(node.url, '/events', {
      headers: { ...bearer(token), 'x-forwarded-for': '203.0.113.9' },
      until: greeted,
    });
    handlers.stop();
    assert.equal(stream.status, 200);
    assert.equal(handlers.count(), 1);
    await until(() =>
      node.herald.hub.connectionsOf('carol').some((sub) => sub.info.remoteAddress === '203.0.113.9'),
    );
    stream.socket.destroy();
  });

  test('a fast-path stream ends with a disconnect event when its token expires', async () => {
    const token = await tokenFor('dora', { ttlMs: 1500 });
    const stream = await rawGet(node.url, '/events', { headers: bearer(token), until: greeted });
    let text = stream.body;
    stream.socket.on('data', (chunk: string) => {
      text += chunk;
    });
    await new Promise((resolve) => stream.socket.once('close', resolve));
    assert.match(text, /event: disconnect\ndata: \{"reason":"token-expired"/);
  });
});
