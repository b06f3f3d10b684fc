import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { exportJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { loadConfig } from '../../src/config.js';
import { createHerald } from '../../src/server.js';
import { b64url, bearer, nowSeconds, publishAs, request, signClaims, tokenFor } from '../helpers/auth.js';
import { startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

const PROBLEM = '/problems/';

/** Asserts a refused request: status, problem type, and a detail matching `detail`. */
function assertProblem(
  response: { status: number; body: { type?: string; detail?: string } },
  status: number,
  code: string,
  detail?: RegExp,
): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.type, PROBLEM + code);
  if (detail !== undefined) assert.match(response.body.detail ?? '', detail);
}

describe('subscriber tokens (HS256 secret)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startSecureHerald({ jwtClockSkewMs: 0 });
  });
  after(() => node.close());

  test('a missing token is a 401 with WWW-Authenticate, never a stream', async () => {
    const response = await request(`${node.url}/events`);
    assertProblem(response, 401, 'unauthorized', /token is required/);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
  });

  test('development identities (?user=) are refused in production mode', async () => {
    const response = await request(`${node.url}/events?user=alice`);
    assertProblem(response, 401, 'unauthorized');
  });

  test('a valid token opens the stream as its sub, from the header, the cookie or the query', async () => {
    const token = await tokenFor('alice');
    const viaHeader = await openSse(`${node.url}/events`, bearer(token));
    const viaCookie = await openSse(`${node.url}/events`, { cookie: `other=1; herald_token=${token}` });
    const viaQuery = await openSse(`${node.url}/events?token=${token}`);
    for (const stream of [viaHeader, viaCookie, viaQuery]) {
      assert.equal(stream.status, 200);
      await stream.waitFor(1, (e) => e.event === 'connected');
    }
    await publishAs(node.url, TEST_KEYS.publishKey, { to: { users: ['alice'] }, data: 'hi alice' });
    for (const stream of [viaHeader, viaCookie, viaQuery]) {
      const [message] = await stream.waitFor(1, isMessage);
      assert.equal(message?.data, 'hi alice');
      stream.close();
    }
  });

  test('an expired token is a 401 that says so', async () => {
    const token = await signClaims({ sub: 'alice', exp: nowSeconds() - 10 });
    assertProblem(
      await request(`${node.url}/events`, { headers: bearer(token) }),
      401,
      'unauthorized',
      /expired/,
    );
  });

  test('a token not valid yet (nbf) is a 401 that says so', async () => {
    const token = await signClaims({ sub: 'alice', nbf: nowSeconds() + 600, exp: nowSeconds() + 1200 });
    assertProblem(
      await request(`${node.url}/events`, { headers: bearer(token) }),
      401,
      'unauthorized',
      /not valid yet/,
    );
  });

  test('a token signed with another key is a 401', async () => {
    const token = await tokenFor('alice', { secret: 'another-secret-0123456789abcdef0123456789' });
    assertProblem(
      await request(`${node.url}/events`, { headers: bearer(token) }),
      401,
      'unauthorized',
      /signature/,
    );
  });

  test('a token with another algorithm (HS512, same secret) is a 401', async () => {
    const token = await signClaims({ sub: 'alice', exp: nowSeconds() + 60 }, { alg: 'HS512' });
    assertProblem(
      await request(`${node.url}/events`, { headers: bearer(token) }),
      401,
      'unauthorized',
      /algorithm "HS512" is not accepted/,
    );
  });

  test('an unsigned token (alg: none) is a 401', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'alice', exp: nowSeconds() + 60 })}.`;
    assertProblem(
      await request(`${node.url}/events`, { headers: bearer(token) }),
      401,
      'unauthorized',
      /algorithm "none" is not accepted/,
    );
  });

  test('a tampered payload (another sub, same signature) is a 401', async () => {
    const [header, , signature] = (await tokenFor('mallory')).split('.');
    const forged = `${header}.${b64url({ sub: 'alice', exp: nowSeconds() + 3600 })}.${signature}`;
    assertProblem(
      await request(`${node.url}/events`, { headers: bearer(forged) }),
      401,
      'unauthorized',
      /signature/,
    );
  });

  test('garbage, a token without exp and a token with an invalid sub are 401s', async () => {
    for (const token of [
      'not-a-jwt',
      'a.b.c',
      await signClaims({ sub: 'alice' }),
      await signClaims({ sub: 'bad user\n', exp: nowSeconds() + 60 }),
      await signClaims({ sub: 'alice', exp: nowSeconds() + 60, groups: 'news' }),
    ]) {
      assertProblem(await request(`${node.url}/events`, { headers: bearer(token) }), 401, 'unauthorized');
    }
  });

  test('a ?user= naming someone else than the token is a 403', async () => {
    const token = await tokenFor('alice');
    assertProblem(
      await request(`${node.url}/events?user=bob`, { headers: bearer(token) }),
      403,
      'forbidden',
      /for user "alice", not "bob"/,
    );
  });

  test('groups outside the claim are refused with a 403 naming them', async () => {
    const token = await tokenFor('alice', { groups: ['news', 'team-a'] });
    const response = await request(`${node.url}/events?group=news&group=admins&group=payroll`, {
      headers: bearer(token),
    });
    assertProblem(response, 403, 'forbidden', /"admins", "payroll"/);
    assert.deepEqual(response.body.groups, ['admins', 'payroll']);
    const noClaim = await tokenFor('bob');
    assertProblem(
      await request(`${node.url}/events?group=news`, { headers: bearer(noClaim) }),
      403,
      'forbidden',
      /"news"/,
    );
  });

  test('requested groups inside the claim are joined; none requested joins every claimed group', async () => {
    const token = await tokenFor('carol', { groups: ['news', 'team-a'] });
    const some = await openSse(`${node.url}/events?group=team-a`, bearer(token));
    const every = await openSse(`${node.url}/events`, bearer(token));
    await some.waitFor(1);
    await every.waitFor(1);
    await publishAs(node.url, TEST_KEYS.publishKey, { to: { groups: ['news'] }, data: 'news' });
    await publishAs(node.url, TEST_KEYS.publishKey, { to: { groups: ['team-a'] }, data: 'team' });
    assert.deepEqual(
      (await every.waitFor(2, isMessage)).map((e) => e.data),
      ['news', 'team'],
    );
    assert.deepEqual(
      (await some.waitFor(1, isMessage)).map((e) => e.data),
      ['team'],
    );
    some.close();
    every.close();
  });

  test('a connection whose token expires is closed with a disconnect event saying why', async () => {
    const token = await tokenFor('dora', { ttlMs: 2000 });
    const stream = await openSse(`${node.url}/events`, bearer(token));
    await stream.waitFor(1, (e) => e.event === 'connected');
    const [disconnect] = await stream.waitFor(1, (e) => e.event === 'disconnect', 6000);
    assert.deepEqual(JSON.parse(disconnect?.data ?? ''), { reason: 'token-expired', reconnect: true });
    await stream.ended;
    // Reconnecting with the same token is refused; a fresh token resumes from the last id.
    assertProblem(
      await request(`${node.url}/events`, { headers: bearer(token) }),
      401,
      'unauthorized',
      /expired/,
    );
    const fresh = await openSse(`${node.url}/events`, {
      ...bearer(await tokenFor('dora')),
      'last-event-id': stream.lastEventId() ?? '',
    });
    assert.equal(fresh.status, 200);
    fresh.close();
  });

  test('the classic subscribe route checks that the token sub is the path user', async () => {
    const token = await tokenFor('erin');
    assertProblem(
      await request(`${node.url}/sse/subscribe/frank`, { headers: bearer(token) }),
      403,
      'forbidden',
      /for user "erin", not "frank"/,
    );
    assertProblem(await request(`${node.url}/sse/subscribe/erin`), 401, 'unauthorized');
    const stream = await openSse(`${node.url}/sse/subscribe/erin`, { cookie: `herald_token=${token}` });
    assert.equal(stream.status, 200);
    await stream.waitFor(2);
    stream.close();
  });

  test('a rejected ?token= never reaches the logs or the problem body', async () => {
    const secretLooking = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2VjcmV0';
    const response = await request(`${node.url}/events?token=${secretLooking}`);
    assert.equal(response.status, 401);
    assert.equal(JSON.stringify(response.body).includes(secretLooking), false);
    assert.equal(JSON.stringify(node.logs).includes(secretLooking), false);
  });
});

describe('publisher credentials', () => {
  let node: TestHerald;
  before(async () => {
    node = await startSecureHerald();
  });
  after(() => node.close());

  const message = { to: { users: ['alice'] }, data: 'x' };

  test('publishing needs a credential: none is 401, a wrong key 401, a subscriber token 403', async () => {
    assertProblem(await request(`${node.url}/messages`, { body: message }), 401, 'unauthorized');
    assertProblem(
      await request(`${node.url}/messages`, { headers: bearer('wrong-key'), body: message }),
      401,
      'unauthorized',
    );
    assertProblem(
      await request(`${node.url}/messages`, { headers: bearer(await tokenFor('alice')), body: message }),
      403,
      'forbidden',
      /publish permission/,
    );
  });

  test('the publish key, the admin key and a token with the publish claim may publish', async () => {
    for (const credential of [
      TEST_KEYS.publishKey,
      TEST_KEYS.adminKey,
      await tokenFor('backend', { publish: true }),
    ]) {
      const response = await request(`${node.url}/messages`, { headers: bearer(credential), body: message });
      assert.equal(response.status, 202, JSON.stringify(response.body));
    }
  });

  test('a publish key in a cookie or the query string is not a credential', async () => {
    assertProblem(
      await request(`${node.url}/messages?token=${TEST_KEYS.publishKey}`, {
        headers: { cookie: `herald_token=${TEST_KEYS.publishKey}` },
        body: message,
      }),
      401,
      'unauthorized',
    );
  });

  test('presence and close routes need publisher credentials', async () => {
    for (const [method, path] of [
      ['GET', '/presence'],
      ['GET', '/presence/users'],
      ['GET', '/presence/users/alice'],
      ['DELETE', '/users/alice/connections'],
    ] as const) {
      assertProblem(await request(node.url + path, { method }), 401, 'unauthorized');
      assertProblem(
        await request(node.url + path, { method, headers: bearer(await tokenFor('alice')) }),
        403,
        'forbidden',
      );
      const allowed = await request(node.url + path, { method, headers: bearer(TEST_KEYS.publishKey) });
      assert.equal(allowed.status, 200, `${method} ${path}: ${JSON.stringify(allowed.body)}`);
    }
  });

  test('the classic send, close and count routes need publisher credentials', async () => {
    const paths = [
      '/sse/sendMessage?userId=alice&message=hi',
      '/sse/groupSendMessage?groupId=a&message=hi',
      '/sse/batchSendMessage?message=hi',
      '/sse/close/alice',
      '/sse/getUserCount',
    ];
    for (const path of paths) {
      assertProblem(await request(node.url + path), 401, 'unauthorized');
      const allowed = await request(node.url + path, { headers: bearer(TEST_KEYS.publishKey) });
      assert.equal(allowed.status, 200, `${path}: ${JSON.stringify(allowed.body)}`);
    }
  });
});

describe('public keys: PEM (RS256, ES256) and JWKS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-keys-'));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  writeFileSync(join(dir, 'rsa.pem'), rsaPem);
  writeFileSync(join(dir, 'ec.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
  const sign = (key: typeof rsa.privateKey, alg: string, sub: string, kid?: string): Promise<string> =>
    new SignJWT({})
      .setProtectedHeader({ alg, ...(kid === undefined ? {} : { kid }) })
      .setSubject(sub)
      .setExpirationTime('1h')
      .sign(key);

  test('an RSA PEM key accepts RS256 and refuses algorithm confusion (HS256 keyed with the PEM)', async () => {
    const node = await startSecureHerald({ jwtSecret: undefined, jwtPublicKey: join(dir, 'rsa.pem') });
    try {
      const good = await openSse(`${node.url}/events`, bearer(await sign(rsa.privateKey, 'RS256', 'alice')));
      assert.equal(good.status, 200);
      good.close();
      const confused = await signClaims(
        { sub: 'alice', exp: nowSeconds() + 60 },
        { secret: new TextEncoder().encode(rsaPem) },
      );
      assertProblem(
        await request(`${node.url}/events`, { headers: bearer(confused) }),
        401,
        'unauthorized',
        /algorithm "HS256" is not accepted/,
      );
      const wrongKey = await sign(
        generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
        'RS256',
        'alice',
      );
      assertProblem(await request(`${node.url}/events`, { headers: bearer(wrongKey) }), 401, 'unauthorized');
    } finally {
      await node.close();
    }
  });

  test('an EC P-256 PEM key accepts ES256 only', async () => {
    const node = await startSecureHerald({ jwtSecret: undefined, jwtPublicKey: join(dir, 'ec.pem') });
    try {
      const good = await openSse(`${node.url}/events`, bearer(await sign(ec.privateKey, 'ES256', 'alice')));
      assert.equal(good.status, 200);
      good.close();
      const rs = await sign(rsa.privateKey, 'RS256', 'alice');
      assertProblem(
        await request(`${node.url}/events`, { headers: bearer(rs) }),
        401,
        'unauthorized',
        /RS256/,
      );
    } finally {
      await node.close();
    }
  });

  test('a JWKS URL is fetched, cached, and refetched when a token names an unknown kid', async () => {
    const keys: JWK[] = [{ ...(await exportJWK(rsa.publicKey)), kid: 'one', alg: 'RS256', use: 'sig' }];
    let fetches = 0;
    const jwks = http.createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    const node = await startSecureHerald({ jwtSecret: undefined, jwksUrl, jwksCooldownMs: 0 });
    try {
      for (let i = 0; i < 3; i++) {
        const stream = await openSse(
          `${node.url}/events`,
          bearer(await sign(rsa.privateKey, 'RS256', 'a', 'one')),
        );
        assert.equal(stream.status, 200);
        stream.close();
      }
      assert.equal(fetches, 1, 'keys are cached');
      // Key rotation: the issuer adds an EC key; a token naming it makes Herald refetch once.
      keys.push({ ...(await exportJWK(ec.publicKey)), kid: 'two', alg: 'ES256', use: 'sig' });
      const rotated = await openSse(
        `${node.url}/events`,
        bearer(await sign(ec.privateKey, 'ES256', 'b', 'two')),
      );
      assert.equal(rotated.status, 200);
      rotated.close();
      assert.equal(fetches, 2);
      const unknown = await sign(ec.privateKey, 'ES256', 'b', 'three');
      assertProblem(
        await request(`${node.url}/events`, { headers: bearer(unknown) }),
        401,
        'unauthorized',
        /kid/,
      );
    } finally {
      await node.close();
      jwks.close();
    }
  });

  test('an unreachable JWKS endpoint is a 503 with Retry-After, not a 401', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const node = await startSecureHerald({ jwtSecret: undefined, jwksUrl: `http://127.0.0.1:${port}/jwks` });
    try {
      const token = await sign(rsa.privateKey, 'RS256', 'alice', 'one');
      const response = await request(`${node.url}/events`, { headers: bearer(token) });
      assertProblem(response, 503, 'auth-unavailable');
      assert.equal(response.headers.get('retry-after'), '5');
    } finally {
      await node.close();
    }
  });
});

describe('production mode start-up and herald token', () => {
  const bin = fileURLToPath(new URL('../../../bin/herald.js', import.meta.url));
  const run = promisify(execFile);
  const cleanEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('HERALD_')),
  );

  test('production mode refuses to start without a key, naming the options', async () => {
    const config = { ...loadConfig([], {}), port: 0, host: '127.0.0.1' };
    await assert.rejects(
      createHerald(config),
      /--jwt-secret \(HERALD_JWT_SECRET\).*--jwt-public-key.*--jwks-url/,
    );
    const result = await run(process.execPath, [bin, '--port', '0'], { env: cleanEnv }).catch((e) => e);
    assert.equal(result.code, 2);
    const lines = String(result.stderr).trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /^herald: production mode needs a token key: set --jwt-secret/);
  });

  test('a short secret and an unreadable PEM path are refused at start', async () => {
    const base = { ...loadConfig([], {}), port: 0, host: '127.0.0.1' };
    await assert.rejects(createHerald({ ...base, jwtSecret: 'short' }), /--jwt-secret: must be at least 32/);
    await assert.rejects(
      createHerald({ ...base, jwtPublicKey: '/nonexistent.pem' }),
      /--jwt-public-key.*ENOENT/,
    );
  });

  test('herald token mints a token that Herald accepts, with the sub, groups and ttl asked for', async () => {
    const { stdout } = await run(
      process.execPath,
      [bin, 'token', '--sub', 'alice', '--groups', 'a,b', '--ttl', '1h', '--publish'],
      { env: { ...cleanEnv, HERALD_JWT_SECRET: TEST_KEYS.jwtSecret } },
    );
    const token = stdout.trim();
    const { payload, protectedHeader } = await jwtVerify(
      token,
      new TextEncoder().encode(TEST_KEYS.jwtSecret),
    );
    assert.equal(protectedHeader.alg, 'HS256');
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(payload.groups, ['a', 'b']);
    assert.deepEqual(payload.herald, { publish: true });
    assert.equal((payload.exp as number) - (payload.iat as number), 3600);
    const missing = await run(process.execPath, [bin, 'token', '--sub', 'alice'], { env: cleanEnv }).catch(
      (e) => e,
    );
    assert.equal(missing.code, 2);
    assert.match(String(missing.stderr), /needs --jwt-secret or HERALD_JWT_SECRET/);
  });
});
