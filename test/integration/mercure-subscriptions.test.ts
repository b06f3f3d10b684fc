import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.js';
import type { JsonBody, TestHerald } from '../helpers/herald.js';
import { accessToken, detail, hubUrl, legacyToken, startMercure } from '../helpers/mercure.js';
import { type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { openSse, type SseConnection } from '../helpers/sse-client.js';

const SUBSCRIPTIONS = '/.well-known/mercure/subscriptions';
const enc = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** A token that may read subscription events and the subscriptions API (a URL pattern on the namespace). */
const watcherToken = (): Promise<string> =>
  accessToken([
    detail(
      ['subscribe'],
      [{ match: `${SUBSCRIPTIONS}{/*}?`, match_type: 'urlpattern' }, { match: SUBSCRIPTIONS }],
    ),
  ]);

async function api(
  base: string,
  path: string,
  token?: string,
): Promise<{ status: number; type: string; link: string | null; body: JsonBody; challenge: string | null }> {
  const response = await fetch(`${base}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    link: response.headers.get('link'),
    body: text === '' ? undefined : JSON.parse(text),
    challenge: response.headers.get('www-authenticate'),
  };
}

async function watch(base: string): Promise<SseConnection> {
  const stream = await openSse(hubUrl(base, [['match_urlpattern', `${SUBSCRIPTIONS}/*`]]), {
    authorization: `Bearer ${await watcherToken()}`,
  });
  assert.equal(stream.status, 200);
  return stream;
}

/** Subscription events a watcher received about others (it also sees its own). */
const isOthers = (e: { event: string; data: string }): boolean =>
  e.event === 'mercure' && JSON.parse(e.data).match !== `${SUBSCRIPTIONS}/*`;
const documents = (stream: SseConnection): JsonBody[] =>
  stream.events.filter(isOthers).map((e) => JSON.parse(e.data));

describe('Mercure active subscriptions (draft §Active Subscriptions)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startMercure({ mercureSubscriptions: true, mercureAnonymous: true });
  });
  after(() => node.close());

  test('§Subscription Events: a subscription start and end are private updates of type mercure, with the draft document and its payload', async () => {
    const watcher = await watch(node.url);
    const match = 'https://example.com/books/:id';
    const token = await accessToken([
      detail(['subscribe'], [{ match: 'https://example.com/books/:id', match_type: 'urlpattern' }], {
        room: 'books',
      }),
      detail(['subscribe'], [{ match: '*' }], { room: 'default' }),
    ]);
    const subscriber = await openSse(
      hubUrl(node.url, [
        ['match_urlpattern', match],
        ['match', 'https://example.com/x'],
      ]),
      {
        authorization: `Bearer ${token}`,
      },
    );
    await watcher.waitFor(2, isOthers);
    const [first, second] = documents(watcher);
    const id = first.subscriber as string;
    assert.match(id, /^urn:uuid:[0-9a-f-]{36}$/);
    assert.deepEqual(first, {
      id: `${SUBSCRIPTIONS}/urlpattern/${enc(match)}/${enc(id)}`,
      type: 'subscription',
      match_type: 'urlpattern',
      match,
      subscriber: id,
      active: true,
      payload: { room: 'books' },
    });
    assert.equal(watcher.events[0]?.id !== undefined, true);
    assert.deepEqual(second.payload, { room: 'default' }, 'the first subscribe detail whose matcher matches');
    assert.equal(second.match_type, 'exact');
    subscriber.close();
    await watcher.waitFor(4, isOthers);
    const ended = documents(watcher).slice(2);
    assert.deepEqual(
      ended.map((d) => [d.id, d.active]),
      [
        [first.id, false],
        [second.id, false],
      ],
    );
    watcher.close();
  });

  test('§Subscription Events: anonymous subscribers do not receive them (they are private)', async () => {
    const anonymous = await openSse(hubUrl(node.url, [['match_urlpattern', `${SUBSCRIPTIONS}/*`]]));
    const watcher = await watch(node.url);
    const other = await openSse(hubUrl(node.url, [['match', 'y']]));
    await watcher.waitFor(1, (e) => e.event === 'mercure' && JSON.parse(e.data).match === 'y');
    other.close();
    await watcher.waitFor(2, (e) => e.event === 'mercure' && JSON.parse(e.data).match === 'y');
    assert.equal(anonymous.events.length, 0);
    anonymous.close();
    watcher.close();
  });

  test('§Subscription Events: a topic subscription (older parameter) is announced as the JSON-LD document with mercure.payload', async () => {
    const watcher = await watch(node.url);
    const selector = 'https://example.com/{selector}';
    const subscriber = await openSse(hubUrl(node.url, [['topic', selector]]), {
      authorization: `Bearer ${await legacyToken({ subscribe: ['https://example.com/{selector}'], payload: { foo: 'bar' } })}`,
    });
    await watcher.waitFor(1, isOthers);
    const [doc] = documents(watcher);
    assert.deepEqual(doc, {
      '@context': 'https://mercure.rocks/',
      id: `${SUBSCRIPTIONS}/${enc(selector)}/${enc(doc.subscriber)}`,
      type: 'Subscription',
      topic: selector,
      subscriber: doc.subscriber,
      active: true,
      payload: { foo: 'bar' },
    });
    subscriber.close();
    watcher.close();
  });

  test('§Subscription API: the collection, the per-matcher collection and one subscription, with the cursor on the Link header', async () => {
    const match = 'https://example.com/api/:id';
    const subscriber = await openSse(hubUrl(node.url, [['match_urlpattern', match]]));
    const token = await watcherToken();
    let all: Awaited<ReturnType<typeof api>> | undefined;
    await eventually('the subscription is listed', async () => {
      all = await api(node.url, SUBSCRIPTIONS, token);
      return all.body.subscriptions.some((s: JsonBody) => s.match === match);
    });
    const listed = all as Awaited<ReturnType<typeof api>>;
    assert.equal(listed.status, 200);
    assert.equal(listed.type, 'application/json; charset=utf-8');
    assert.match(
      listed.link ?? '',
      /^<\/\.well-known\/mercure>; rel="mercure"; last-event-id="#\d+-[\d-]+"; type="mercure"; content-type="application\/json"$/,
    );
    assert.equal(listed.body.id, SUBSCRIPTIONS);
    assert.equal(listed.body.type, 'subscriptions');
    const doc = listed.body.subscriptions.find((s: JsonBody) => s.match === match);
    const perMatcher = await api(node.url, `${SUBSCRIPTIONS}/urlpattern/${enc(match)}`, token);
    assert.equal(perMatcher.status, 200);
    assert.deepEqual(perMatcher.body.subscriptions, [doc]);
    const one = await api(node.url, doc.id, token);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, doc);
    subscriber.close();
    await eventually(
      'the closed subscription is gone',
      async () => (await api(node.url, doc.id, token)).status === 404,
    );
  });

  test('§Subscription API: without a token 401; a token without a grant on the URL 403; an unknown subscription 404', async () => {
    const none = await api(node.url, SUBSCRIPTIONS);
    assert.equal(none.status, 401);
    assert.equal(none.challenge, 'Bearer');
    const narrow = await accessToken([detail(['subscribe'], [{ match: 'https://example.com/books/1' }])]);
    const refused = await api(node.url, SUBSCRIPTIONS, narrow);
    assert.equal(refused.status, 403);
    assert.equal(refused.challenge, 'Bearer error="insufficient_scope"');
    const missing = await api(
      node.url,
      `${SUBSCRIPTIONS}/exact/${enc('nope')}/${enc('urn:uuid:nobody')}`,
      await watcherToken(),
    );
    assert.equal(missing.status, 404);
  });

  test('§Subscription API: an older token gets the JSON-LD documents with @context and lastEventID', async () => {
    const subscriber = await openSse(hubUrl(node.url, [['topic', 'https://example.com/ld/{id}']]));
    const token = await legacyToken({ subscribe: [`${SUBSCRIPTIONS}{/rest*}`, SUBSCRIPTIONS] });
    let listed: Awaited<ReturnType<typeof api>> | undefined;
    await eventually('listed', async () => {
      listed = await api(node.url, SUBSCRIPTIONS, token);
      return listed.body.subscriptions.some((s: JsonBody) => s.topic === 'https://example.com/ld/{id}');
    });
    const body = (listed as Awaited<ReturnType<typeof api>>).body;
    assert.equal((listed as Awaited<ReturnType<typeof api>>).type, 'application/ld+json; charset=utf-8');
    assert.equal(body['@context'], 'https://mercure.rocks/');
    assert.equal(body.type, 'Subscriptions');
    assert.match(body.lastEventID, /^#/);
    const doc = body.subscriptions.find((s: JsonBody) => s.topic === 'https://example.com/ld/{id}');
    const perTopic = await api(node.url, `${SUBSCRIPTIONS}/${enc(doc.topic)}`, token);
    assert.deepEqual(perTopic.body.subscriptions, [doc]);
    const one = await api(node.url, doc.id, token);
    assert.equal(one.body.type, 'Subscription');
    assert.equal(one.body.subscriber, doc.subscriber);
    subscriber.close();
  });
});

describe('Mercure active subscriptions across a Redis cluster', { skip: redisSkip }, () => {
  let redis: RedisServer;
  const nodes: TestHerald[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const node of nodes) await node.close().catch(() => {});
    await redis.stop();
  });
  const join = async (): Promise<TestHerald> => {
    const node = await startMercure({
      log: redis.url,
      redisPrefix: 'mercure:',
      presenceTtlMs: 1000,
      mercureSubscriptions: true,
      mercureAnonymous: true,
    });
    nodes.push(node);
    return node;
  };

  test('each node lists every node’s subscriptions, also those opened before it started, and events cross nodes', async () => {
    const a = await join();
    const early = await openSse(hubUrl(a.url, [['match', 'https://example.com/early']]));
    const token = await watcherToken();
    await eventually('a lists its own', async () =>
      (await api(a.url, SUBSCRIPTIONS, token)).body.subscriptions.some(
        (s: JsonBody) => s.match === 'https://example.com/early',
      ),
    );
    const b = await join();
    const watcherOnB = await watch(b.url);
    await eventually('b learns of the subscription opened before it started', async () =>
      (await api(b.url, SUBSCRIPTIONS, token)).body.subscriptions.some(
        (s: JsonBody) => s.match === 'https://example.com/early',
      ),
    );
    const late = await openSse(hubUrl(a.url, [['match', 'https://example.com/late']]));
    const [started] = await watcherOnB.waitFor(
      1,
      (e) => e.event === 'mercure' && JSON.parse(e.data).match === 'https://example.com/late',
    );
    assert.equal(JSON.parse(started?.data as string).active, true);
    late.close();
    await watcherOnB.waitFor(
      2,
      (e) => e.event === 'mercure' && JSON.parse(e.data).match === 'https://example.com/late',
    );
    await eventually(
      'b forgets the closed subscription',
      async () =>
        !(await api(b.url, SUBSCRIPTIONS, token)).body.subscriptions.some(
          (s: JsonBody) => s.match === 'https://example.com/late',
        ),
    );
    early.close();
    watcherOnB.close();
  });

  test('a Mercure update published on one node reaches subscribers on the other', async () => {
    const [a, b] = nodes;
    const stream = await openSse(hubUrl(b?.url as string, [['match', 'https://example.com/cluster']]));
    const { publishForm, publisherToken } = await import('../helpers/mercure.js');
    const answer = await publishForm(
      a?.url as string,
      [
        ['topic', 'https://example.com/cluster'],
        ['data', 'across'],
      ],
      await publisherToken(),
    );
    const [event] = await stream.waitFor(1);
    assert.deepEqual([event?.id, event?.data], [answer.body, 'across']);
    stream.close();
  });

  test('a Mercure subscriber resumes on another node from an id it got on the first (replay from Redis)', async () => {
    const [a, b] = nodes;
    const { publishForm, publisherToken } = await import('../helpers/mercure.js');
    const token = await publisherToken();
    const topic = 'https://example.com/cluster/replay';
    const first = await publishForm(
      a?.url as string,
      [
        ['topic', topic],
        ['data', 'seen on a'],
      ],
      token,
    );
    await publishForm(
      a?.url as string,
      [
        ['topic', 'https://example.com/elsewhere'],
        ['data', 'not for it'],
      ],
      token,
    );
    await publishForm(
      a?.url as string,
      [
        ['topic', topic],
        ['data', 'missed'],
      ],
      token,
    );
    const resumed = await openSse(hubUrl(b?.url as string, [['match', topic]]), {
      'last-event-id': first.body,
    });
    assert.equal(resumed.headers['mercure-last-event-id'], first.body);
    const [event] = await resumed.waitFor(1);
    assert.equal(event?.data, 'missed');
    resumed.close();
  });
});
