import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import type { Config } from '../../src/config.js';
import { PublishGate } from '../../src/ops/publish-gate.js';
import { bearer, signClaims, tokenFor, until } from '../helpers/auth.js';
import { startHerald, startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import {
  connectRaw,
  countFastifyHandlers,
  exchange,
  exchangeOne,
  type RawResponse,
  rawPost,
} from '../helpers/raw-http.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

const MESSAGE = JSON.stringify({ to: { users: ['u1'] }, data: 'hello' });
let sequence = 0;

/**
 * Sends `body` once as the fast path takes it (`Content-Length`) and once chunked (which goes to Fastify),
 * each with its own `X-Request-Id`, and checks that Fastify ran a route handler only for the chunked one
 * when `reachesHandler` (errors found before the handler never get there on either path).
 */
async function bothPaths(
  node: TestHerald,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ fast: RawResponse; fastify: RawResponse; ids: [string, string] }> {
  const ids: [string, string] = [`fast-${++sequence}`, `fastify-${sequence}`];
  const fast = await exchangeOne(
    node.url,
    rawPost('/messages', body, { headers: { ...headers, 'x-request-id': ids[0] } }),
  );
  const fastify = await exchangeOne(
    node.url,
    rawPost('/messages', body, { headers: { ...headers, 'x-request-id': ids[1] }, chunked: true }),
  );
  return { fast, fastify, ids };
}

/** Same status, same body byte for byte, same headers but `Date` and the echoed request ids. */
function assertSameAnswer(
  { fast, fastify, ids }: { fast: RawResponse; fastify: RawResponse; ids: [string, string] },
  status: number,
): void {
  assert.equal(fast.status, status, fast.body);
  assert.equal(fastify.status, status, fastify.body);
  assert.equal(fast.body, fastify.body);
  const { date: _a, 'x-request-id': fastId, ...fastHeaders } = fast.headers;
  const { date: _b, 'x-request-id': fastifyId, ...fastifyHeaders } = fastify.headers;
  assert.deepEqual(fastHeaders, fastifyHeaders);
  assert.deepEqual([fastId, fastifyId], ids, 'X-Request-Id is echoed');
}

/** The single log line of each rejected request, without its time and request id; they must be equal. */
function assertSameLogLine(node: TestHerald, ids: [string, string]): void {
  const [fast, fastify] = ids.map((id) => {
    const lines = node.logs.filter((line) => line.reqId === id);
    assert.equal(lines.length, 1, `one log line for ${id}: ${JSON.stringify(lines)}`);
    const { time: _time, reqId: _id, ...rest } = lines[0] as Record<string, unknown>;
    return rest;
  });
  assert.deepEqual(fast, fastify);
}

describe('POST /messages fast path: the same answers as Fastify, byte for byte', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({ bodyLimitBytes: 1024 });
  });
  after(() => node.close());

  test('a plain publish is accepted without running a Fastify handler; a chunked one through Fastify', async () => {
    const handlers = countFastifyHandlers();
    try {
      const answers = await bothPaths(node, MESSAGE);
      assert.equal(handlers.count(), 1, 'only the chunked request reached Fastify');
      assert.match(answers.fast.body, /^\{"id":"[^"]+"\}$/);
      assert.match(answers.fastify.body, /^\{"id":"[^"]+"\}$/);
      assertSameAnswer({ ...answers, fast: { ...answers.fast, body: answers.fastify.body } }, 202);
      const batch = await bothPaths(node, `[${MESSAGE},${MESSAGE}]`);
      assert.match(batch.fast.body, /^\{"ids":\["[^"]+","[^"]+"\]\}$/);
      assert.equal(batch.fast.headers['content-type'], 'application/json; charset=utf-8');
    } finally {
      handlers.stop();
    }
  });

  test('malformed JSON, __proto__ and constructor.prototype poisoning, and an empty body are the same 400', async () => {
    for (const body of [
      '{"to": {"all": true}, "data": ',
      '{"to":{"all":true},"data":"x","__proto__":{"admin":true}}',
      '{"to":{"all":true},"data":"x","constructor":{"prototype":{"admin":true}}}',
      '',
    ]) {
      const answers = await bothPaths(node, body);
      assertSameAnswer(answers, 400);
      assert.equal(
        answers.fast.headers.connection,
        'close',
        'a body that does not parse closes the connection',
      );
      assertSameLogLine(node, answers.ids);
    }
  });

  test('invalid messages and batches are the same 400 naming the field', async () => {
    for (const body of [
      '{"to":{"all":true}}',
      '{"to":{"all":true},"data":"x","priority":1}',
      '[{"to":{"all":true},"data":1},{"to":{"all":1},"data":2}]',
      '[]',
      '"text"',
    ]) {
      const handlers = countFastifyHandlers();
      const answers = await bothPaths(node, body);
      handlers.stop();
      assert.equal(handlers.count(), 1, 'the invalid body sent with Content-Length never reached Fastify');
      assertSameAnswer(answers, 400);
      assertSameLogLine(node, answers.ids);
    }
  });

  test('a body over --body-limit is the same 413, whether its length is announced or found while reading', async () => {
    assertSameAnswer(
      await bothPaths(node, JSON.stringify({ to: { all: true }, data: 'x'.repeat(2000) })),
      413,
    );
  });

  test('X-Request-Id is echoed, else generated, never the same on both paths', async () => {
    const handed = await exchangeOne(
      node.url,
      rawPost('/messages', MESSAGE, { headers: { 'x-request-id': 'abc-1' } }),
    );
    assert.equal(handed.headers['x-request-id'], 'abc-1');
    const [fast, fastify] = [
      await exchangeOne(node.url, rawPost('/messages', MESSAGE)),
      await exchangeOne(node.url, rawPost('/messages', MESSAGE, { chunked: true })),
    ];
    assert.match(fast.headers['x-request-id'] ?? '', /^req-[0-9a-z]+$/);
    assert.match(fastify.headers['x-request-id'] ?? '', /^req-[0-9a-z]+$/);
    assert.notEqual(fast.headers['x-request-id'], fastify.headers['x-request-id']);
  });

  test('a request with Origin is served by Fastify, with its CORS headers', async () => {
    const handlers = countFastifyHandlers();
    try {
      const response = await exchangeOne(
        node.url,
        rawPost('/messages', MESSAGE, { headers: { origin: 'https://app.example' } }),
      );
      assert.equal(response.status, 202);
      assert.equal(response.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(handlers.count(), 1);
    } finally {
      handlers.stop();
    }
  });

  test('the CORS headers of a request without Origin are the same on both paths for every CORS setting (asked of the plugin)', async () => {
    for (const corsOrigins of [['*'], ['https://app.example', 'https://other.example']]) {
      const other = await startHerald({ dev: false, ...TEST_KEYS, corsOrigins });
      try {
        const answers = await bothPaths(other, MESSAGE, { authorization: `Bearer ${TEST_KEYS.publishKey}` });
        assertSameAnswer({ ...answers, fast: { ...answers.fast, body: answers.fastify.body } }, 202);
      } finally {
        await other.close();
      }
    }
    // Without CORS configured (production, no --cors-origin), no CORS header on either path.
    const plain = await startSecureHerald();
    try {
      const answers = await bothPaths(plain, MESSAGE, { authorization: `Bearer ${TEST_KEYS.publishKey}` });
      assertSameAnswer({ ...answers, fast: { ...answers.fast, body: answers.fastify.body } }, 202);
      assert.equal(answers.fast.headers.vary, undefined);
    } finally {
      await plain.close();
    }
  });

  test('pipelined requests on one keep-alive connection are answered in order, whichever path serves them', async () => {
    const requests = [
      rawPost('/messages', MESSAGE, { headers: { 'x-request-id': 'p1' } }),
      rawPost('/messages', MESSAGE, { headers: { 'x-request-id': 'p2', origin: 'https://app.example' } }),
      rawPost('/messages', '{"to":{}}', { headers: { 'x-request-id': 'p3' } }),
      rawPost('/messages', MESSAGE, { headers: { 'x-request-id': 'p4' }, chunked: true }),
      rawPost('/messages', `[${MESSAGE},${MESSAGE}]`, { headers: { 'x-request-id': 'p5' } }),
    ];
    const responses = await exchange(node.url, requests);
    assert.deepEqual(
      responses.map((r) => [r.headers['x-request-id'], r.status]),
      [
        ['p1', 202],
        ['p2', 202],
        ['p3', 400],
        ['p4', 202],
        ['p5', 202],
      ],
    );
  });

  test('every message acknowledged with 202 over a kept-alive connection is delivered, in order', async () => {
    const stream = await openSse(`${node.url}/events?user=bulk`);
    await stream.waitFor(1);
    const count = 300;
    const requests = Array.from({ length: count }, (_, i) =>
      rawPost('/messages', JSON.stringify({ to: { users: ['bulk'] }, data: `m${i}` })),
    );
    const responses = await exchange(node.url, requests);
    assert.deepEqual(
      responses.map((r) => r.status),
      requests.map(() => 202),
    );
    const accepted = responses.map((r) => (JSON.parse(r.body) as { id: string }).id);
    const received = await stream.waitFor(count, isMessage);
    assert.deepEqual(
      received.map((e) => [e.id, e.data]),
      accepted.map((id, i) => [id, `m${i}`]),
    );
    stream.close();
  });
});

describe('POST /messages fast path: the same refusals as Fastify', () => {
  test('missing and refused credentials are the same 401 or 403, and all are counted in /metrics', async () => {
    // An origin list: its CORS headers on requests without Origin differ from development mode's.
    const node = await startSecureHerald({ corsOrigins: ['https://app.example'] });
    try {
      const cases: [Record<string, string>, number][] = [
        [{}, 401],
        [bearer('wrong-key'), 401],
        [bearer(await tokenFor('svc', { secret: 'another-secret-0123456789abcdef0123456789' })), 401],
        [bearer(await signClaims({ sub: 'svc', exp: 1, herald: { publish: true } })), 401],
        [bearer(await tokenFor('alice')), 403],
      ];
      for (const [headers, status] of cases) {
        const answers = await bothPaths(node, MESSAGE, headers);
        assertSameAnswer(answers, status);
        assertSameLogLine(node, answers.ids);
      }
      const accepted = await exchangeOne(
        node.url,
        rawPost('/messages', MESSAGE, { headers: bearer(TEST_KEYS.publishKey) }),
      );
      assert.equal(accepted.status, 202);
      const metrics = await (
        await fetch(`${node.url}/metrics`, { headers: bearer(TEST_KEYS.adminKey) })
      ).text();
      const failures = (status: number): number =>
        Number(
          new RegExp(`^herald_auth_failures_total\\{status="${status}",[^}]*\\} (\\d+)$`, 'm').exec(
            metrics,
          )?.[1],
        );
      assert.equal(failures(401), 8, 'four 401 cases, each on both paths');
      assert.equal(failures(403), 2);
    } finally {
      await node.close();
    }
  });

  /** On a new node: `body` is accepted once, then refused with `status` alike by both paths. */
  async function refusedAfterOnce(
    overrides: Partial<Config>,
    body: string,
    status: number,
  ): Promise<RawResponse> {
    const node = await startHerald(overrides);
    try {
      assert.equal((await exchangeOne(node.url, rawPost('/messages', body))).status, 202);
      const answers = await bothPaths(node, body);
      assertSameAnswer(answers, status);
      assertSameLogLine(node, answers.ids);
      return answers.fast;
    } finally {
      await node.close();
    }
  }

  test('a publisher over its rate gets the same 429 with Retry-After', async () => {
    const refused = await refusedAfterOnce({ publishRate: 1, publishBurst: 1 }, MESSAGE, 429);
    assert.equal(refused.headers['retry-after'], '1');
  });

  test('a publisher id already in the log is the same 409', async () => {
    const body = JSON.stringify({ to: { all: true }, id: 'once', data: 'x' });
    const refused = await refusedAfterOnce({}, body, 409);
    assert.equal(JSON.parse(refused.body).type, '/problems/duplicate-id');
  });

  test('once the log refuses appends for a drain, both paths answer the same 503 draining', async () => {
    const node = await startHerald();
    try {
      const gate = node.herald.log;
      assert.ok(gate instanceof PublishGate);
      await gate.drain();
      const answers = await bothPaths(node, MESSAGE);
      assertSameAnswer(answers, 503);
      assert.equal(JSON.parse(answers.fast.body).type, '/problems/draining');
    } finally {
      await node.close();
    }
  });

  test("once shutdown starts, a request on a kept-alive connection gets Fastify's 503, as before", async () => {
    const node = await startHerald();
    const connection = await connectRaw(node.url);
    try {
      // A publish under way keeps the connection busy, so closing the server does not drop it.
      const first = rawPost('/messages', MESSAGE);
      const split = first.length - 5;
      const arrived = once(node.herald.app.server, 'request');
      connection.write(first.slice(0, split));
      await arrived;
      const closed = node.close();
      await until(() => !node.herald.app.server.listening);
      connection.write(first.slice(split) + rawPost('/messages', MESSAGE));
      const [accepted, refused] = await connection.responses(2);
      assert.equal(accepted?.status, 503, 'the publish under way meets the drained log');
      assert.equal(JSON.parse(accepted?.body ?? '').type, '/problems/draining');
      assert.equal(refused?.status, 503);
      assert.deepEqual(JSON.parse(refused?.body ?? ''), {
        error: 'Service Unavailable',
        message: 'Service Unavailable',
        statusCode: 503,
      });
      assert.equal(refused?.headers.connection, 'close');
      await closed;
    } finally {
      connection.close();
      await node.close();
    }
  });

  test('a publisher that hangs up while its publish is under way leaves the node serving, on both paths', async () => {
    // A JWKS endpoint that answers only when told; each token names a new key id, so each publish waits.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = await exportJWK(publicKey);
    const kids: string[] = [];
    const fetches: ((keys: string) => void)[] = [];
    const jwks = http.createServer((_request, response) => fetches.push((keys) => response.end(keys)));
    jwks.listen(0, '127.0.0.1');
    await once(jwks, 'listening');
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/`;
    const node = await startSecureHerald({ jwtSecret: undefined, jwksUrl, jwksCooldownMs: 0 });
    try {
      for (const chunked of [false, true]) {
        const kid = `hung-up-${kids.length}`;
        kids.push(kid);
        const token = await new SignJWT({ herald: { publish: true } })
          .setProtectedHeader({ alg: 'ES256', kid })
          .setSubject('svc')
          .setExpirationTime('1h')
          .sign(privateKey);
        const accepted = once(node.herald.app.server, 'connection');
        const connection = await connectRaw(node.url);
        const [socket] = (await accepted) as [Socket];
        const headers = { ...bearer(token), 'x-request-id': kid };
        connection.write(rawPost('/messages', MESSAGE, { headers, chunked }));
        await until(() => fetches.length > 0);
        connection.close();
        await once(socket, 'close');
        const published = node.herald.metrics.publishedCount;
        fetches.shift()?.(JSON.stringify({ keys: kids.map((id) => ({ ...jwk, kid: id, alg: 'ES256' })) }));
        await until(() => node.herald.metrics.publishedCount > published);
        const next = rawPost('/messages', MESSAGE, { headers: bearer(TEST_KEYS.publishKey) });
        assert.equal((await exchangeOne(node.url, next)).status, 202, 'the node still publishes');
      }
      const lines = kids.map((kid) => node.logs.filter((line) => line.reqId === kid).length);
      assert.deepEqual(lines, [0, 0], 'an answer nobody waits for is not a rejection');
    } finally {
      await node.close();
      jwks.close();
    }
  });

  test('behind a trusted proxy, X-Forwarded-For still decides whose rate a publish counts against', async () => {
    const node = await startHerald({ trustProxy: true, publishRate: 1, publishBurst: 1 });
    try {
      const from = (address?: string): Promise<RawResponse> =>
        exchangeOne(
          node.url,
          rawPost('/messages', MESSAGE, {
            headers: address === undefined ? {} : { 'x-forwarded-for': address },
          }),
        );
      assert.equal((await from('203.0.113.7')).status, 202);
      assert.equal((await from('203.0.113.7')).status, 429);
      assert.equal((await from()).status, 202, 'the proxy itself is another publisher');
      assert.equal((await from('203.0.113.8')).status, 202);
    } finally {
      await node.close();
    }
  });
});
