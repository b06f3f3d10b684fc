import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { discoveryLink } from '../../src/mercure/discovery.js';
import { tokenFor } from '../helpers/auth.js';
import { TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import {
  accessToken,
  detail,
  hubUrl,
  legacyToken,
  publisherToken,
  publishForm,
  startMercure,
} from '../helpers/mercure.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

describe('Mercure discovery (draft §Discovery)', () => {
  test("§Hub Discovery: Herald's pages carry Link rel=mercure with last-event-id; resuming from it misses nothing", async () => {
    const node = await startMercure({ mercureAnonymous: true });
    try {
      const page = await fetch(`${node.url}/`);
      await page.body?.cancel();
      const link = page.headers.get('link') ?? '';
      const match = /^<\/\.well-known\/mercure>; rel="mercure"; last-event-id="([^"]+)"$/.exec(link);
      assert.ok(match, link);
      await publishForm(
        node.url,
        [
          ['topic', 'https://example.com/after-page'],
          ['data', 'since the page'],
        ],
        await publisherToken(),
      );
      const stream = await openSse(
        hubUrl(node.url, [
          ['match', 'https://example.com/after-page'],
          ['last_event_id', match[1] as string],
        ]),
      );
      const [event] = await stream.waitFor(1);
      assert.equal(event?.data, 'since the page');
      stream.close();
    } finally {
      await node.close();
    }
  });

  test('§Hub Discovery: with an absolute resource identifier the Link names the hub by it', async () => {
    const node = await startMercure({ mercureAudience: 'https://hub.example/.well-known/mercure' });
    try {
      const page = await fetch(`${node.url}/`);
      await page.body?.cancel();
      assert.match(
        page.headers.get('link') ?? '',
        /^<https:\/\/hub\.example\/\.well-known\/mercure>; rel="mercure"; /,
      );
    } finally {
      await node.close();
    }
  });

  test('discoveryLink, the helper for applications, writes the attributes as quoted strings', () => {
    assert.equal(
      discoveryLink('https://example.com/.well-known/mercure', {
        lastEventId: 'urn:uuid:1',
        type: 'book',
        contentType: 'application/ld+json',
      }),
      '<https://example.com/.well-known/mercure>; rel="mercure"; last-event-id="urn:uuid:1"; type="book"; content-type="application/ld+json"',
    );
    assert.equal(
      discoveryLink('/hub', { lastEventId: 'a"b\\c' }),
      '</hub>; rel="mercure"; last-event-id="a\\"b\\\\c"',
    );
  });
});

describe('Mercure and Herald on one hub (docs/mercure.md, the mapping)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startMercure({ ...TEST_KEYS, mercureAnonymous: true });
  });
  after(() => node.close());

  const native = async (user: string, groups: string[] = []) => {
    const stream = await openSse(`${node.url}/events`, {
      authorization: `Bearer ${await tokenFor(user, { groups })}`,
    });
    assert.equal(stream.status, 200);
    await stream.waitFor(1);
    return stream;
  };
  const publishNative = (message: Record<string, unknown>): Promise<string> =>
    fetch(`${node.url}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEYS.publishKey}` },
      body: JSON.stringify(message),
    }).then(async (response) => {
      assert.equal(response.status, 202);
      return ((await response.json()) as { id: string }).id;
    });

  test('a Mercure update to the topics user:<id> or all reaches those Herald subscribers, and no one else', async () => {
    const ann = await native('ann');
    const bob = await native('bob');
    const token = await publisherToken();
    await publishForm(
      node.url,
      [
        ['topic', 'user:ann'],
        ['data', 'for ann'],
        ['type', 'note'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'https://example.com/not-herald'],
        ['data', 'mercure only'],
      ],
      token,
    );
    await publishForm(
      node.url,
      [
        ['topic', 'all'],
        ['data', 'for all'],
      ],
      token,
    );
    await ann.waitFor(2, isMessage);
    await bob.waitFor(1, isMessage);
    assert.deepEqual(
      ann.events.filter(isMessage).map((e) => [e.event, e.data]),
      [
        ['note', 'for ann'],
        ['message', 'for all'],
      ],
    );
    assert.deepEqual(
      bob.events.filter(isMessage).map((e) => e.data),
      ['for all'],
    );
    ann.close();
    bob.close();
  });

  test('a Herald message to all or to a group reaches Mercure subscribers of that topic whose token grants it; anonymous ones never', async () => {
    const granted = await openSse(
      hubUrl(node.url, [
        ['match', 'all'],
        ['match', 'group:news'],
      ]),
      {
        authorization: `Bearer ${await accessToken([detail(['subscribe'], [{ match: 'all' }, { match: 'group:news' }])])}`,
      },
    );
    const legacyGranted = await openSse(hubUrl(node.url, [['topic', 'group:news']]), {
      authorization: `Bearer ${await legacyToken({ subscribe: ['group:{name}'] })}`,
    });
    const anonymous = await openSse(
      hubUrl(node.url, [
        ['match', 'all'],
        ['match', 'group:news'],
      ]),
    );
    const toAll = await publishNative({ to: { all: true }, data: { hello: 'everyone' } });
    await publishNative({ to: { groups: ['news'] }, data: 'breaking' });
    await publishNative({ to: { groups: ['sports'] }, data: 'not subscribed' });
    await granted.waitFor(2);
    await legacyGranted.waitFor(1);
    assert.deepEqual(
      granted.events.map((e) => [e.id, e.data]),
      [
        [`#${toAll}`, '{"hello":"everyone"}'],
        [granted.events[1]?.id, 'breaking'],
      ],
    );
    assert.deepEqual(
      legacyGranted.events.map((e) => e.data),
      ['breaking'],
    );
    await publishForm(
      node.url,
      [
        ['topic', 'all'],
        ['data', 'public fence'],
      ],
      await publisherToken(),
    );
    await anonymous.waitFor(1);
    assert.deepEqual(
      anonymous.events.map((e) => e.data),
      ['public fence'],
    );
    for (const s of [granted, legacyGranted, anonymous]) s.close();
  });

  test('a Mercure subscriber resumes from the id a Herald client saw (a position, without the #)', async () => {
    const id = await publishNative({ to: { all: true }, data: 'one' });
    await publishNative({ to: { all: true }, data: 'two' });
    const stream = await openSse(hubUrl(node.url, [['match', 'all']]), {
      authorization: `Bearer ${await legacyToken({ subscribe: ['all'] })}`,
      'last-event-id': id,
    });
    const [event] = await stream.waitFor(1);
    assert.equal(event?.data, 'two');
    stream.close();
  });
});
