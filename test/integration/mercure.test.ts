import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestHerald } from '../helpers/herald.js';
import { startHerald } from '../helpers/herald.js';
import {
  accessToken,
  detail,
  hubUrl,
  legacyToken,
  publisherToken,
  publishForm,
  startMercure,
} from '../helpers/mercure.js';
import { openSse, type SseConnection } from '../helpers/sse-client.js';

/** Subscribes with `params` (and a token); resolves once the stream's greeting (its cursor) arrived. */
async function subscribe(
  base: string,
  params: [string, string][],
  headers: Record<string, string> = {},
): Promise<SseConnection> {
  const stream = await openSse(hubUrl(base, params), headers);
  if (stream.status === 200) await waitForRaw(stream, /id: [^\n]+\n\n/);
  return stream;
}

async function waitForRaw(stream: SseConnection, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 250 && !pattern.test(stream.raw()); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(stream.raw(), pattern);
}

/** A marker update every test publishes last, so what a stream did not receive before it is known. */
async function fence(base: string, topic: string): Promise<void> {
  const published = await publishForm(
    base,
    [
      ['topic', topic],
      ['data', 'fence'],
    ],
    await publisherToken(),
  );
  assert.equal(published.status, 200);
}

const datas = (stream: SseConnection): string[] => stream.events.map((e) => e.data);

describe('Mercure subscribe and publish (draft §Subscription, §Publication)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startMercure({ mercureAnonymous: true });
  });
  after(() => node.close());

  test('§Publication: the answer to a publish is status 200 with the update id as text/plain; charset=utf-8', async () => {
    const answer = await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/a'],
        ['data', 'x'],
      ],
      await publisherToken(),
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.type, 'text/plain; charset=utf-8');
    assert.match(answer.body, /^#\d+-\d+$/, 'a hub-generated id is a fragment');
  });

  test('§Subscription: an update reaches a match (exact) subscriber with its id, the type as event, retry, and each data line', async () => {
    const stream = await subscribe(node.url, [['match', 'https://example.com/books/1']]);
    const token = await publisherToken();
    const sent = await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/books/1'],
        ['data', 'line 1\nline 2'],
        ['type', 'book-updated'],
        ['retry', '1234'],
      ],
      token,
    );
    const [event] = await stream.waitFor(1);
    assert.deepEqual(event, { id: sent.body, event: 'book-updated', data: 'line 1\nline 2' });
    assert.match(stream.raw(), /retry: 1234\n/);
    assert.match(stream.raw(), /data: line 1\ndata: line 2\n/);
    stream.close();
  });

  test('§Exact Matching: exact matching is byte for byte and case-sensitive', async () => {
    const stream = await subscribe(node.url, [['match', 'https://example.com/Case']]);
    const token = await publisherToken();
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/case'],
        ['data', 'lower'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/Case'],
        ['data', 'exact'],
      ],
      token,
    );
    await stream.waitFor(1);
    assert.deepEqual(datas(stream), ['exact']);
    stream.close();
  });

  test('§URL Pattern: match_urlpattern https://example.com/books/:id matches each book, not other paths', async () => {
    const stream = await subscribe(node.url, [['match_urlpattern', 'https://example.com/books/:id']]);
    const token = await publisherToken();
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/books/7'],
        ['data', 'book 7'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/authors/7'],
        ['data', 'author'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/books/7/reviews'],
        ['data', 'review'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/books/8'],
        ['data', 'book 8'],
      ],
      token,
    );
    await stream.waitFor(2);
    await fence(node.url, 'https://example.com/books/fence');
    await stream.waitFor(3);
    assert.deepEqual(datas(stream), ['book 7', 'book 8', 'fence']);
    stream.close();
  });

  test('§URL Pattern: a relative pattern and a relative topic resolve against the hub URL', async () => {
    const stream = await subscribe(node.url, [['match_urlpattern', '/chat/:room']]);
    await publishForm(
      node.url,
      [
        ['topic', '/chat/lobby'],
        ['data', 'relative'],
      ],
      await publisherToken(),
    );
    const [event] = await stream.waitFor(1);
    assert.equal(event?.data, 'relative');
    stream.close();
  });

  test('older topic parameter: an exact topic, a URI template (RFC 6570) and * each select their updates', async () => {
    const template = await subscribe(node.url, [['topic', 'https://example.com/users/{id}/posts/{post}']]);
    const exact = await subscribe(node.url, [['topic', 'https://example.com/news']]);
    const everything = await subscribe(node.url, [['topic', '*']]);
    const token = await publisherToken();
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/users/42/posts/9'],
        ['data', 'post'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/users/42/posts'],
        ['data', 'not a post'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/news'],
        ['data', 'news'],
      ],
      token,
    );
    await everything.waitFor(3);
    await fence(node.url, 'https://example.com/news');
    await exact.waitFor(2);
    await template.waitFor(1);
    assert.deepEqual(datas(template), ['post']);
    assert.deepEqual(datas(exact), ['news', 'fence']);
    assert.deepEqual(datas(everything).slice(0, 3), ['post', 'not a post', 'news']);
    for (const s of [template, exact, everything]) s.close();
  });

  test('§Subscription: several matchers on one connection each select updates, and an update matching two arrives once', async () => {
    const stream = await subscribe(node.url, [
      ['match', 'https://example.com/multi/a'],
      ['match_urlpattern', 'https://example.com/multi/*'],
      ['topic', 'https://example.com/other/{x}'],
    ]);
    const token = await publisherToken();
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/multi/a'],
        ['data', 'both'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/other/1'],
        ['data', 'template'],
      ],
      token,
    );
    await stream.waitFor(2);
    await fence(node.url, 'https://example.com/multi/fence');
    await stream.waitFor(3);
    assert.deepEqual(datas(stream), ['both', 'template', 'fence']);
    stream.close();
  });

  test('§Publication: an update reaches subscribers of its alternate topics too', async () => {
    const stream = await subscribe(node.url, [['match', 'https://example.com/alternate']]);
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/canonical'],
        ['topic', 'https://example.com/alternate'],
        ['data', 'alt'],
      ],
      await publisherToken(),
    );
    const [event] = await stream.waitFor(1);
    assert.equal(event?.data, 'alt');
    stream.close();
  });

  test('§Publication: a publisher-chosen id is the event id and the answer', async () => {
    const stream = await subscribe(node.url, [['match', 'https://example.com/ids']]);
    const answer = await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/ids'],
        ['id', 'urn:uuid:0f8e1c52-publisher-id'],
        ['data', 'x'],
      ],
      await publisherToken(),
    );
    assert.equal(answer.body, 'urn:uuid:0f8e1c52-publisher-id');
    const [event] = await stream.waitFor(1);
    assert.equal(event?.id, 'urn:uuid:0f8e1c52-publisher-id');
    stream.close();
  });

  test('§Publication: a reused id is replaced by one of the hub (the draft allows it): the update is delivered, ids stay unique', async () => {
    const stream = await subscribe(node.url, [['match', 'https://example.com/dup']]);
    const token = await publisherToken();
    const first = await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/dup'],
        ['id', 'urn:dup'],
        ['data', '1'],
      ],
      token,
    );
    const second = await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/dup'],
        ['id', 'urn:dup'],
        ['data', '2'],
      ],
      token,
    );
    assert.equal(first.body, 'urn:dup');
    assert.equal(second.status, 200);
    assert.match(second.body, /^#/);
    const events = await stream.waitFor(2);
    assert.deepEqual(
      events.map((e) => [e.id, e.data]),
      [
        ['urn:dup', '1'],
        [second.body, '2'],
      ],
    );
    stream.close();
  });

  test('§Publication: every refused field is a 400 problem naming it: topic *, reserved namespace, # id, earliest, type mercure, retry', async () => {
    const token = await publisherToken();
    const cases: [string, [string, string][]][] = [
      ['topic', [['data', 'no topic']]],
      ['topic', [['topic', '*']]],
      ['topic', [['topic', '/.well-known/mercure/subscriptions/x/y']]],
      ['topic', [['topic', 'https://hub.example/.well-known/%6Dercure/x']]],
      ['topic', [['topic', '/a/../.well-known/mercure']]],
      ['topic', [['topic', 'bad\u0007topic']]],
      ['topic', [['topic', 'zero\u200Bwidth']]],
      [
        'id',
        [
          ['topic', 't'],
          ['id', '#mine'],
        ],
      ],
      [
        'id',
        [
          ['topic', 't'],
          ['id', 'earliest'],
        ],
      ],
      [
        'type',
        [
          ['topic', 't'],
          ['type', 'mercure'],
        ],
      ],
      [
        'type',
        [
          ['topic', 't'],
          ['type', 'a\nb'],
        ],
      ],
      [
        'retry',
        [
          ['topic', 't'],
          ['retry', '5s'],
        ],
      ],
    ];
    for (const [field, fields] of cases) {
      const answer = await publishForm(node.url, fields, token);
      assert.equal(answer.status, 400, JSON.stringify(fields));
      assert.equal(answer.type, 'application/problem+json; charset=utf-8');
      assert.equal(JSON.parse(answer.body).field, field, JSON.stringify(fields));
    }
  });

  test('§Publication: a body that is not UTF-8 is a 400; a body that is not a form is a 415', async () => {
    const token = await publisherToken();
    const bad = await fetch(hubUrl(node.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` },
      body: 'topic=t&data=%FF%FE',
    });
    assert.equal(bad.status, 400);
    const json = await fetch(hubUrl(node.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{"topic":"t"}',
    });
    assert.equal(json.status, 415);
  });

  test('§Publication: more topics than the hub takes is a 413', async () => {
    const fields: [string, string][] = Array.from({ length: 101 }, (_, i) => ['topic', `t${i}`]);
    const answer = await publishForm(node.url, fields, await publisherToken());
    assert.equal(answer.status, 413);
  });

  test('§Subscription: an unknown match_ parameter, a typo of the namespace, an invalid URL pattern, one that could backtrack, a control character, no matcher: each 400', async () => {
    const cases: [string, string][][] = [
      [['match_regexp', 'x']],
      [['Match', 'x']],
      [['matches', 'x']],
      [['match_urlpattern', 'https://example.com/(unclosed']],
      [['match_urlpattern', 'https://example.com/*a*a*a*b']],
      [['match_urlpattern', 'https://example.com/:id(\\d+)']],
      [['topic', 'https://example.com/{a}{b}{c}']],
      [['match', 'bad\u0001value']],
      [['other', 'x']],
    ];
    for (const params of cases) {
      const response = await fetch(hubUrl(node.url, params));
      assert.equal(response.status, 400, JSON.stringify(params));
      assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      await response.body?.cancel();
    }
  });

  test('§Subscription: a matcher value that is not UTF-8 is a 400', async () => {
    const response = await fetch(`${hubUrl(node.url)}?match=%C3%28`);
    assert.equal(response.status, 400);
    await response.body?.cancel();
  });

  test('§Subscription: the stream is text/event-stream and starts with retry and its cursor', async () => {
    const stream = await subscribe(node.url, [['match', 'x']]);
    assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.match(stream.raw(), /^retry: \d+\n\nid: #\d+-\d+\n\n/);
    stream.close();
  });
});

describe('Mercure private updates and authorization (draft §Authorization)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startMercure({ mercureAnonymous: true });
  });
  after(() => node.close());

  test('§Subscribers: a private update reaches only subscribers whose token grants one of its topics; anonymous ones get public updates only', async () => {
    const topic = 'https://example.com/private/1';
    const anonymous = await subscribe(node.url, [['match', topic]]);
    const allowedLegacy = await subscribe(node.url, [['match', topic]], {
      authorization: `Bearer ${await legacyToken({ subscribe: ['https://example.com/private/{id}'] })}`,
    });
    const allowedDraft = await subscribe(node.url, [['match', topic]], {
      authorization: `Bearer ${await accessToken([detail(['subscribe'], [{ match: topic }])])}`,
    });
    const other = await subscribe(node.url, [['match', topic]], {
      authorization: `Bearer ${await legacyToken({ subscribe: ['https://example.com/else'] })}`,
    });
    const token = await publisherToken();
    await publishForm(
      node.url,
      [
        ['topic', topic],
        ['data', 'secret'],
        ['private', 'on'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', topic],
        ['data', 'public'],
      ],
      token,
    );
    for (const stream of [anonymous, other]) await stream.waitFor(1);
    for (const stream of [allowedLegacy, allowedDraft]) await stream.waitFor(2);
    assert.deepEqual(datas(anonymous), ['public']);
    assert.deepEqual(datas(other), ['public']);
    assert.deepEqual(datas(allowedLegacy), ['secret', 'public']);
    assert.deepEqual(datas(allowedDraft), ['secret', 'public']);
    for (const s of [anonymous, allowedLegacy, allowedDraft, other]) s.close();
  });

  test('§Subscribers: a grant on an alternate topic opens a private update selected by its canonical topic', async () => {
    const stream = await subscribe(node.url, [['match_urlpattern', 'https://example.com/books/:id']], {
      authorization: `Bearer ${await accessToken([
        detail(['subscribe'], [{ match: 'https://example.com/users/42/*', match_type: 'urlpattern' }]),
      ])}`,
    });
    const token = await publisherToken();
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/books/2'],
        ['data', 'not for 42'],
        ['private', ''],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/books/1'],
        ['topic', 'https://example.com/users/42/books/1'],
        ['data', 'for 42'],
        ['private', 'on'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/books/3'],
        ['data', 'public'],
      ],
      token,
    );
    await stream.waitFor(2);
    assert.deepEqual(datas(stream), ['for 42', 'public']);
    stream.close();
  });

  test('§Publishers: a publisher token must grant every topic of the update, else 403 insufficient_scope and nothing is dispatched', async () => {
    const stream = await subscribe(node.url, [['match_urlpattern', 'https://example.com/scoped/*']]);
    const limited = await legacyToken({ publish: ['https://example.com/scoped/{id}'] });
    const refused = await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/scoped/1'],
        ['topic', 'https://example.com/elsewhere'],
        ['data', 'no'],
      ],
      limited,
    );
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer error="insufficient_scope"');
    const draftLimited = await accessToken([detail(['subscribe'], [{ match: '*' }])]);
    const noPublish = await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/scoped/2'],
        ['data', 'no'],
      ],
      draftLimited,
    );
    assert.equal(noPublish.status, 403);
    const allowed = await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/scoped/1'],
        ['data', 'yes'],
      ],
      limited,
    );
    assert.equal(allowed.status, 200);
    await stream.waitFor(1);
    assert.deepEqual(datas(stream), ['yes']);
    stream.close();
  });

  test('§Error Responses: a publish without a token is 401 with a bare Bearer challenge; an invalid token 401 invalid_token', async () => {
    const none = await publishForm(node.url, [['topic', 't']]);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    const wrong = await publishForm(
      node.url,
      [['topic', 't']],
      await legacyToken({ publish: ['*'] }, 'another-secret-of-32-characters-or-more'),
    );
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    const garbage = await publishForm(node.url, [['topic', 't']], 'not.a.jwt');
    assert.equal(garbage.status, 401);
    assert.equal(garbage.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
  });

  test('§Error Responses: an Authorization header that is not Bearer is 400 invalid_request', async () => {
    const answer = await publishForm(node.url, [['topic', 't']], undefined, {
      authorization: 'Basic dXNlcjpwYXNz',
    });
    assert.equal(answer.status, 400);
    assert.equal(answer.headers.get('www-authenticate'), 'Bearer error="invalid_request"');
  });

  test('§Token Validation: an at+jwt token without exp, or expired, is 401 invalid_token; a legacy token without exp is accepted', async () => {
    const noExp = await accessToken([detail(['publish'], [{ match: '*' }])], { exp: undefined });
    assert.equal(
      (
        await publishForm(
          node.url,
          [
            ['topic', 't'],
            ['data', 'x'],
          ],
          noExp,
        )
      ).status,
      401,
    );
    const expired = await accessToken([detail(['publish'], [{ match: '*' }])], {
      exp: Math.floor(Date.now() / 1000) - 3600,
    });
    assert.equal(
      (
        await publishForm(
          node.url,
          [
            ['topic', 't'],
            ['data', 'x'],
          ],
          expired,
        )
      ).status,
      401,
    );
    assert.equal(
      (
        await publishForm(
          node.url,
          [
            ['topic', 't'],
            ['data', 'x'],
          ],
          await publisherToken(),
        )
      ).status,
      200,
    );
  });

  test('§Authorization Details: a malformed Mercure detail or an unsupported match_type rejects the whole token (401)', async () => {
    const unsupported = await accessToken([
      detail(['publish'], [{ match: '*' }]),
      detail(['publish'], [{ match: 'x', match_type: 'regexp' }]),
    ]);
    assert.equal((await publishForm(node.url, [['topic', 't']], unsupported)).status, 401);
    const noActions = await accessToken([
      { type: 'https://mercure.rocks/authorization-detail', topics: [{ match: '*' }] },
    ]);
    assert.equal((await publishForm(node.url, [['topic', 't']], noActions)).status, 401);
    const stringTopic = await accessToken([detail(['publish'], ['*' as unknown as { match: string }])]);
    assert.equal((await publishForm(node.url, [['topic', 't']], stringTopic)).status, 401);
    const unknownAction = await accessToken([detail(['publish', 'archive'], [{ match: '*' }])]);
    assert.equal(
      (
        await publishForm(
          node.url,
          [
            ['topic', 't'],
            ['data', 'x'],
          ],
          unknownAction,
        )
      ).status,
      200,
    );
    const otherType = await accessToken([
      { type: 'https://example.com/other', topics: 'anything' },
      detail(['publish'], [{ match: '*' }]),
    ]);
    assert.equal(
      (
        await publishForm(
          node.url,
          [
            ['topic', 't'],
            ['data', 'x'],
          ],
          otherType,
        )
      ).status,
      200,
    );
  });
});

describe('Mercure hub configuration', () => {
  test('§Authorization: without --mercure-anonymous a subscriber without a token is refused with 401 and a Bearer challenge', async () => {
    const node = await startMercure();
    try {
      const response = await fetch(hubUrl(node.url, [['match', 'x']]));
      assert.equal(response.status, 401);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer');
      await response.body?.cancel();
    } finally {
      await node.close();
    }
  });

  test('the hub is not served without a Mercure key, not even in development mode', async () => {
    const node = await startHerald();
    try {
      const response = await fetch(hubUrl(node.url, [['match', 'x']]));
      assert.equal(response.status, 404);
      await response.body?.cancel();
    } finally {
      await node.close();
    }
  });

  test('a Mercure key alone starts a production node (no Herald key needed)', async () => {
    const node = await startMercure({ jwtSecret: undefined, publishKey: undefined, adminKey: undefined });
    try {
      const answer = await publishForm(
        node.url,
        [
          ['topic', 't'],
          ['data', 'x'],
        ],
        await publisherToken(),
      );
      assert.equal(answer.status, 200);
    } finally {
      await node.close();
    }
  });
});
