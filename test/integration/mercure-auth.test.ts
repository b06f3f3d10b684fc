import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import type { TestHerald } from '../helpers/herald.js';
import {
  accessToken,
  detail,
  hubUrl,
  legacyToken,
  MERCURE_SECRET,
  publisherToken,
  publishForm,
  startMercure,
} from '../helpers/mercure.js';
import { connectRaw } from '../helpers/raw-http.js';
import { openSse } from '../helpers/sse-client.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-mercure-keys-'));
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const pemOf = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }) as string;
writeFileSync(join(dir, 'rsa.pem'), pemOf(rsa.publicKey));

/** A legacy publisher token signed with an asymmetric key. */
const signed = (key: KeyObject, alg: string, kid?: string): Promise<string> =>
  new SignJWT({ mercure: { publish: ['*'], subscribe: ['*'] } })
    .setProtectedHeader({ alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }) })
    .sign(key);

const topicOf = (name: string): [string, string][] => [
  ['topic', `https://example.com/${name}`],
  ['data', name],
];

describe('Mercure keys: HS256, RS256, ES256, EdDSA and a JWKS', () => {
  test('an RSA key given as a PEM path verifies RS256 tokens, and refuses HS256 ones keyed with the PEM text', async () => {
    const node = await startMercure({ mercurePublisherJwtKey: join(dir, 'rsa.pem') });
    try {
      assert.equal(
        (await publishForm(node.url, topicOf('rs256'), await signed(rsa.privateKey, 'RS256'))).status,
        200,
      );
      const confused = await legacyToken({ publish: ['*'] }, pemOf(rsa.publicKey));
      assert.equal((await publishForm(node.url, topicOf('confused'), confused)).status, 401);
    } finally {
      await node.close();
    }
  });

  test('EC P-256 (ES256) and Ed25519 (EdDSA) keys given inline as PEM text verify their tokens', async () => {
    for (const [pair, alg] of [
      [ec, 'ES256'],
      [ed, 'EdDSA'],
    ] as const) {
      const node = await startMercure({ mercurePublisherJwtKey: pemOf(pair.publicKey) });
      try {
        assert.equal(
          (await publishForm(node.url, topicOf(alg), await signed(pair.privateKey, alg))).status,
          200,
          alg,
        );
      } finally {
        await node.close();
      }
    }
  });

  test('publisher and subscriber keys are separate; each falls back to the other when alone', async () => {
    const subscriberSecret = 'test-only-mercure-subscriber-secret-0123456789';
    const node = await startMercure({ mercureSubscriberJwtKey: subscriberSecret });
    try {
      const asSubscriber = await legacyToken({ publish: ['*'] }, subscriberSecret);
      assert.equal(
        (await publishForm(node.url, topicOf('x'), asSubscriber)).status,
        401,
        'not a publisher key',
      );
      const stream = await openSse(hubUrl(node.url, [['match', 'x']]), {
        authorization: `Bearer ${await legacyToken({ subscribe: ['*'] }, subscriberSecret)}`,
      });
      assert.equal(stream.status, 200);
      stream.close();
      const publisherAsSubscriber = await openSse(hubUrl(node.url, [['match', 'x']]), {
        authorization: `Bearer ${await legacyToken({ subscribe: ['*'] })}`,
      });
      assert.equal(publisherAsSubscriber.status, 401);
      publisherAsSubscriber.close();
    } finally {
      await node.close();
    }
    const fallback = await startMercure();
    try {
      const stream = await openSse(hubUrl(fallback.url, [['match', 'x']]), {
        authorization: `Bearer ${await legacyToken({ subscribe: ['*'] })}`,
      });
      assert.equal(stream.status, 200, 'the subscriber key falls back to the publisher key');
      stream.close();
    } finally {
      await fallback.close();
    }
  });

  test('a JWKS served on loopback verifies RS256 and ES256 tokens by kid', async () => {
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' },
    ];
    const jwks = http.createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const mercureJwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    const node = await startMercure({ mercurePublisherJwtKey: undefined, mercureJwksUrl });
    try {
      assert.equal(
        (await publishForm(node.url, topicOf('a'), await signed(rsa.privateKey, 'RS256', 'rsa'))).status,
        200,
      );
      assert.equal(
        (await publishForm(node.url, topicOf('b'), await signed(ec.privateKey, 'ES256', 'ec'))).status,
        200,
      );
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      assert.equal(
        (await publishForm(node.url, topicOf('c'), await signed(other, 'RS256', 'rsa'))).status,
        401,
      );
      assert.equal(
        (await publishForm(node.url, topicOf('d'), await publisherToken())).status,
        401,
        'no HS256 key',
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
    const node = await startMercure({
      mercurePublisherJwtKey: undefined,
      mercureJwksUrl: `http://127.0.0.1:${port}/jwks`,
    });
    try {
      const answer = await publishForm(
        node.url,
        topicOf('down'),
        await signed(rsa.privateKey, 'RS256', 'rsa'),
      );
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), '5');
    } finally {
      await node.close();
    }
  });

  test('a short HS256 secret stops the start with one line naming the option', async () => {
    await assert.rejects(startMercure({ mercurePublisherJwtKey: 'short' }), /--mercure-publisher-jwt-key/);
  });
});

describe('Mercure token presentation (draft §Presenting the Access Token)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startMercure({ mercureQueryToken: false });
  });
  after(() => node.close());

  const subscriberCookie = async (name: string): Promise<string> =>
    `${name}=${await legacyToken({ subscribe: ['*'] })}`;

  test('§Cookie: the __Secure-mercure_access_token cookie and the older mercureAuthorization cookie authorize a subscriber', async () => {
    for (const name of ['__Secure-mercure_access_token', 'mercureAuthorization']) {
      const stream = await openSse(hubUrl(node.url, [['match', 'x']]), {
        cookie: await subscriberCookie(name),
      });
      assert.equal(stream.status, 200, name);
      stream.close();
    }
    const other = await openSse(hubUrl(node.url, [['match', 'x']]), {
      cookie: await subscriberCookie('unrelated'),
    });
    assert.equal(other.status, 401);
    other.close();
  });

  test('§Presenting the Access Token: the Authorization header wins over the cookie', async () => {
    const stream = await openSse(hubUrl(node.url, [['match', 'x']]), {
      cookie: await subscriberCookie('mercureAuthorization'),
      authorization: `Bearer ${await legacyToken({ subscribe: ['*'] }, 'a-different-secret-of-at-least-32-characters')}`,
    });
    assert.equal(stream.status, 401, 'the (invalid) header token is used, the (valid) cookie ignored');
    assert.equal(stream.headers['www-authenticate'], 'Bearer error="invalid_token"');
    stream.close();
  });

  test('§Presenting the Access Token: the authorization query parameter is ignored unless --mercure-query-token', async () => {
    const token = await legacyToken({ subscribe: ['*'] });
    const refused = await openSse(
      hubUrl(node.url, [
        ['match', 'x'],
        ['authorization', token],
      ]),
    );
    assert.equal(refused.status, 401);
    refused.close();
    const allowing = await startMercure({ mercureQueryToken: true });
    try {
      const stream = await openSse(
        hubUrl(allowing.url, [
          ['match', 'x'],
          ['authorization', token],
        ]),
      );
      assert.equal(stream.status, 200);
      stream.close();
    } finally {
      await allowing.close();
    }
  });

  test('the cookie name is configurable (--mercure-cookie-name)', async () => {
    const named = await startMercure({ mercureCookieName: 'hubToken' });
    try {
      const stream = await openSse(hubUrl(named.url, [['match', 'x']]), {
        cookie: await subscriberCookie('hubToken'),
      });
      assert.equal(stream.status, 200);
      stream.close();
    } finally {
      await named.close();
    }
  });

  test('§Security Considerations: a publish authorized by a cookie needs an Origin of the hub (CSRF): foreign or missing is 400 invalid_request', async () => {
    const cookie = `mercureAuthorization=${await publisherToken()}`;
    const foreign = await publishForm(node.url, topicOf('csrf'), undefined, {
      cookie,
      origin: 'https://evil.example',
    });
    assert.equal(foreign.status, 400);
    assert.equal(foreign.headers.get('www-authenticate'), 'Bearer error="invalid_request"');
    const missing = await publishForm(node.url, topicOf('csrf'), undefined, { cookie });
    assert.equal(missing.status, 400);
    const own = await publishForm(node.url, topicOf('csrf'), undefined, { cookie, origin: node.url });
    assert.equal(own.status, 200);
  });
});

describe('Mercure RFC 9068 access tokens (draft §Token Validation)', () => {
  let node: TestHerald;
  const audience = 'https://hub.example/.well-known/mercure';
  before(async () => {
    node = await startMercure({ mercureAudience: audience, mercureIssuer: 'https://app.example' });
  });
  after(() => node.close());

  test('§Token Validation: with --mercure-audience and --mercure-issuer, an at+jwt token needs that aud and iss', async () => {
    const grant = [detail(['publish'], [{ match: '*' }])];
    assert.equal(
      (await publishForm(node.url, topicOf('ok'), await accessToken(grant, { aud: audience }))).status,
      200,
    );
    assert.equal(
      (await publishForm(node.url, topicOf('array'), await accessToken(grant, { aud: ['other', audience] })))
        .status,
      200,
    );
    const wrongAud = await publishForm(
      node.url,
      topicOf('aud'),
      await accessToken(grant, { aud: 'https://other/' }),
    );
    assert.equal(wrongAud.status, 401);
    assert.equal(wrongAud.headers.get('www-authenticate')?.startsWith('Bearer error="invalid_token"'), true);
    const wrongIss = await accessToken(grant, { aud: audience, iss: 'https://elsewhere.example' });
    assert.equal((await publishForm(node.url, topicOf('iss'), wrongIss)).status, 401);
    // A token of the older generation (typ JWT) is not an access token: aud and iss are not asked of it.
    assert.equal((await publishForm(node.url, topicOf('legacy'), await publisherToken())).status, 200);
  });

  test('§Error Responses: challenges name the protected resource metadata, which says the resource and the cookie', async () => {
    const answer = await publishForm(node.url, topicOf('none'));
    assert.equal(
      answer.headers.get('www-authenticate'),
      'Bearer resource_metadata="https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure"',
    );
    const response = await fetch(`${node.url}/.well-known/oauth-protected-resource/.well-known/mercure`);
    const metadata = (await response.json()) as Record<string, unknown>;
    assert.equal(metadata.resource, audience);
    assert.deepEqual(metadata.authorization_details_types_supported, [
      'https://mercure.rocks/authorization-detail',
    ]);
    assert.equal(metadata.mercure_cookie, '__Secure-mercure_access_token');
  });

  test('§Subscribers: the connection is closed at the token exp', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await accessToken([detail(['subscribe'], [{ match: '*' }])], { aud: audience, exp });
    const stream = await openSse(hubUrl(node.url, [['match', 'x']]), { authorization: `Bearer ${token}` });
    assert.equal(stream.status, 200);
    await stream.ended;
  });
});

describe('publishes exactly as Symfony and API Platform send them', () => {
  let node: TestHerald;
  before(async () => {
    node = await startMercure({ mercureAnonymous: true });
  });
  after(() => node.close());

  /** Symfony's `Hub::publish`: `QueryBuilder` (PHP urlencode, `+` for spaces), HttpClient's headers. */
  const symfonyRequest = (body: string, jwt: string): string =>
    'POST /.well-known/mercure HTTP/1.1\r\n' +
    'Host: 127.0.0.1\r\n' +
    'Content-Type: application/x-www-form-urlencoded\r\n' +
    `Authorization: Bearer ${jwt}\r\n` +
    'Accept: */*\r\n' +
    'User-Agent: Symfony HttpClient (Curl)\r\n' +
    'Accept-Encoding: gzip\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    '\r\n' +
    body;

  test("Symfony's Hub::publish: topics, data, private=on, id, type and retry, with an lcobucci HS256 token", async () => {
    // LcobucciFactory::create(subscribe: [], publish: ['*']) with its default exp.
    const jwt = await new SignJWT({ mercure: { publish: ['*'], subscribe: [] } })
      .setProtectedHeader({ typ: 'JWT', alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(MERCURE_SECRET));
    const stream = await openSse(hubUrl(node.url, [['topic', 'https://example.com/books/{id}']]), {
      authorization: `Bearer ${await legacyToken({ subscribe: ['https://example.com/books/{id}'] })}`,
    });
    const body =
      'topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&topic=https%3A%2F%2Fexample.com%2Fusers%2Fdunglas%2Fbooks%2F1' +
      '&data=%7B%22status%22%3A+%22OutOfStock%22%7D&private=on&id=urn%3Auuid%3Asymfony-1&type=book&retry=2000';
    const connection = await connectRaw(node.url);
    connection.write(symfonyRequest(body, jwt));
    const [response] = await connection.responses(1);
    connection.close();
    assert.equal(response?.status, 200);
    assert.equal(response?.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(response?.body, 'urn:uuid:symfony-1');
    const [event] = await stream.waitFor(1);
    assert.deepEqual(event, { id: 'urn:uuid:symfony-1', event: 'book', data: '{"status": "OutOfStock"}' });
    stream.close();
  });

  test('API Platform: a JSON-LD resource update to its IRI, published with a bearer token', async () => {
    const jwt = await publisherToken();
    const stream = await openSse(hubUrl(node.url, [['match_urlpattern', 'https://localhost/books/:id']]));
    const data = JSON.stringify({
      '@context': '/contexts/Book',
      '@id': '/books/1',
      '@type': 'Book',
      title: 'Dune',
    });
    const body = `topic=${encodeURIComponent('https://localhost/books/1')}&data=${encodeURIComponent(data).replace(/%20/g, '+')}`;
    const connection = await connectRaw(node.url);
    connection.write(symfonyRequest(body, jwt));
    const [response] = await connection.responses(1);
    connection.close();
    assert.equal(response?.status, 200);
    const [event] = await stream.waitFor(1);
    assert.equal(event?.data, data);
    stream.close();
  });
});
