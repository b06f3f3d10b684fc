import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fetchEventSource } from '@microsoft/fetch-event-source';
import { EventSource } from 'eventsource';
import { Disconnect } from '../../src/core/disconnect.js';
import type { TestHerald } from '../helpers/herald.js';
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

const datas = (stream: SseConnection): string[] => stream.events.map((e) => e.data);

async function publishAll(
  base: string,
  topic: string,
  items: string[],
  extra: [string, string][] = [],
): Promise<string[]> {
  const token = await publisherToken();
  const ids: string[] = [];
  for (const data of items) {
    const answer = await publishForm(base, [['topic', topic], ['data', data], ...extra], token);
    assert.equal(answer.status, 200);
    ids.push(answer.body);
  }
  return ids;
}

describe('Mercure reconnection (draft §Reconnection, State Reconciliation)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startMercure({ mercureAnonymous: true });
  });
  after(() => node.close());

  test('§Reconciliation: the Last-Event-ID header replays every update after it, then goes live', async () => {
    const topic = 'https://example.com/replay/header';
    const [first] = await publishAll(node.url, topic, ['a', 'b', 'c']);
    const stream = await openSse(hubUrl(node.url, [['match', topic]]), { 'last-event-id': first as string });
    assert.equal(stream.headers['mercure-last-event-id'], first);
    await stream.waitFor(2);
    await publishAll(node.url, topic, ['d']);
    await stream.waitFor(3);
    assert.deepEqual(datas(stream), ['b', 'c', 'd']);
    stream.close();
  });

  test('§Reconciliation: the last_event_id query parameter (the draft) and lastEventID (older hubs) replay too', async () => {
    const topic = 'https://example.com/replay/query';
    const [first] = await publishAll(node.url, topic, ['a', 'b']);
    for (const name of ['last_event_id', 'lastEventID']) {
      const stream = await openSse(
        hubUrl(node.url, [
          ['match', topic],
          [name, first as string],
        ]),
      );
      assert.equal(stream.headers['mercure-last-event-id'], first, name);
      await stream.waitFor(1);
      assert.deepEqual(datas(stream), ['b'], name);
      stream.close();
    }
  });

  test('§Reconciliation: the Last-Event-ID header takes precedence over the query parameter', async () => {
    const topic = 'https://example.com/replay/precedence';
    const [first, second] = await publishAll(node.url, topic, ['a', 'b', 'c']);
    const stream = await openSse(
      hubUrl(node.url, [
        ['match', topic],
        ['last_event_id', first as string],
      ]),
      {
        'last-event-id': second as string,
      },
    );
    assert.equal(stream.headers['mercure-last-event-id'], second);
    await stream.waitFor(1);
    await publishAll(node.url, topic, ['fence']);
    await stream.waitFor(2);
    assert.deepEqual(datas(stream), ['c', 'fence']);
    stream.close();
  });

  test('§Reconciliation: a publisher-chosen id is a resume point too', async () => {
    const topic = 'https://example.com/replay/publisher-id';
    await publishAll(node.url, topic, ['a'], [['id', 'urn:uuid:resume-here']]);
    await publishAll(node.url, topic, ['b']);
    const stream = await openSse(hubUrl(node.url, [['match', topic]]), {
      'last-event-id': 'urn:uuid:resume-here',
    });
    assert.equal(stream.headers['mercure-last-event-id'], 'urn:uuid:resume-here');
    await stream.waitFor(1);
    assert.deepEqual(datas(stream), ['b']);
    stream.close();
  });

  test('§Reconciliation: an id the hub never issued is answered Mercure-Last-Event-ID: earliest, and the stream goes live', async () => {
    const topic = 'https://example.com/replay/unknown';
    await publishAll(node.url, topic, ['before']);
    const stream = await openSse(hubUrl(node.url, [['match', topic]]), {
      'last-event-id': 'urn:uuid:never-issued',
    });
    assert.equal(stream.headers['mercure-last-event-id'], 'earliest');
    await publishAll(node.url, topic, ['after']);
    await stream.waitFor(1);
    assert.deepEqual(datas(stream), ['after']);
    stream.close();
  });

  test('§Reconciliation: earliest replays every update the hub still has for the subscribed topics', async () => {
    const topic = 'https://example.com/replay/earliest';
    await publishAll(node.url, topic, ['e1', 'e2']);
    const stream = await openSse(
      hubUrl(node.url, [
        ['match', topic],
        ['last_event_id', 'earliest'],
      ]),
    );
    assert.equal(stream.headers['mercure-last-event-id'], 'earliest');
    await stream.waitFor(2);
    assert.deepEqual(datas(stream), ['e1', 'e2']);
    stream.close();
  });

  test('§Reconciliation: a fresh subscription has no Mercure-Last-Event-ID header', async () => {
    const stream = await openSse(hubUrl(node.url, [['match', 'x']]));
    assert.equal(stream.headers['mercure-last-event-id'], undefined);
    stream.close();
  });

  test('§Reconciliation: replayed private updates are checked against the token presented now', async () => {
    const topic = 'https://example.com/replay/private';
    const [first] = await publishAll(node.url, topic, ['public 1']);
    await publishAll(node.url, topic, ['secret'], [['private', 'on']]);
    await publishAll(node.url, topic, ['public 2']);
    const anonymous = await openSse(hubUrl(node.url, [['match', topic]]), {
      'last-event-id': first as string,
    });
    const allowed = await openSse(hubUrl(node.url, [['match', topic]]), {
      'last-event-id': first as string,
      authorization: `Bearer ${await accessToken([detail(['subscribe'], [{ match: topic }])])}`,
    });
    await allowed.waitFor(2);
    await anonymous.waitFor(1);
    await publishAll(node.url, topic, ['fence']);
    await anonymous.waitFor(2);
    assert.deepEqual(datas(anonymous), ['public 2', 'fence']);
    assert.deepEqual(datas(allowed).slice(0, 2), ['secret', 'public 2']);
    anonymous.close();
    allowed.close();
  });
});

describe('Mercure with clients nobody here wrote', () => {
  let node: TestHerald;
  before(async () => {
    node = await startMercure();
  });
  after(() => node.close());

  test('the eventsource package subscribes with match and the mercureAuthorization cookie, and resumes losslessly after the server drops it', async () => {
    const topic = 'https://example.com/eventsource/1';
    const cookie = `mercureAuthorization=${await legacyToken({ subscribe: [topic] })}`;
    const url = hubUrl(node.url, [['match', topic]]);
    const received: { id: string; data: string }[] = [];
    let opens = 0;
    const source = new EventSource(url, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, cookie } }),
    });
    const opened = (): Promise<void> =>
      new Promise((resolve) => source.addEventListener('open', () => resolve(), { once: true }));
    source.addEventListener('open', () => opens++);
    const waitFor = (count: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (received.length >= count) resolve();
          else source.addEventListener('message', check, { once: true });
        };
        check();
      });
    source.addEventListener('message', (event) => received.push({ id: event.lastEventId, data: event.data }));
    try {
      await opened();
      await publishAll(node.url, topic, ['one'], [['private', 'on']]);
      await waitFor(1);
      // The server ends every stream; the client reconnects with Last-Event-ID on its own.
      const reopened = opened();
      node.herald.hub.disconnectAll(Disconnect.closedByServer);
      await publishAll(node.url, topic, ['two', 'three'], [['private', 'on']]);
      await reopened;
      await waitFor(3);
      assert.deepEqual(
        received.map((e) => e.data),
        ['one', 'two', 'three'],
      );
      assert.equal(opens, 2);
    } finally {
      source.close();
    }
  });

  test('@microsoft/fetch-event-source subscribes with match_urlpattern and a bearer token, and reads Mercure-Last-Event-ID', async () => {
    const topic = 'https://example.com/fetch-event-source/7';
    const [first] = await publishAll(node.url, topic, ['before'], [['private', 'on']]);
    await publishAll(node.url, topic, ['missed'], [['private', 'on']]);
    const token = await accessToken([
      detail(
        ['subscribe'],
        [{ match: 'https://example.com/fetch-event-source/:id', match_type: 'urlpattern' }],
      ),
    ]);
    // The library runs in browsers: it schedules its retries on `window` and unhooks `document` when done.
    const browserGlobals = globalThis as { window?: unknown; document?: unknown };
    browserGlobals.window ??= globalThis;
    browserGlobals.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} };
    const controller = new AbortController();
    const received: string[] = [];
    let header: string | null = null;
    const done = new Promise<void>((resolve, reject) => {
      fetchEventSource(
        hubUrl(node.url, [['match_urlpattern', 'https://example.com/fetch-event-source/:id']]),
        {
          headers: { authorization: `Bearer ${token}`, 'last-event-id': first as string },
          signal: controller.signal,
          openWhenHidden: true,
          fetch,
          async onopen(response) {
            header = response.headers.get('mercure-last-event-id');
            if (response.status !== 200) reject(new Error(`status ${response.status}`));
          },
          onmessage(message) {
            if (message.data === '') return;
            received.push(message.data);
            if (received.length === 2) resolve();
          },
          onerror(error) {
            reject(error);
            throw error;
          },
        },
      ).catch(reject);
    });
    setTimeout(() => void publishAll(node.url, topic, ['live'], [['private', 'on']]), 50);
    await done;
    controller.abort();
    assert.equal(header, first);
    assert.deepEqual(received, ['missed', 'live']);
  });
});
