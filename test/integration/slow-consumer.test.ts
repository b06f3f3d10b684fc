import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createParser } from 'eventsource-parser';
import { getJson, postJson, startHerald, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

describe('slow consumers', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({
      maxBufferedBytes: 256 * 1024,
      historySize: 1000,
      bodyLimitBytes: 1024 * 1024,
    });
  });
  after(() => node.close());

  test('a connection past the output bound is closed, and its client resumes losing nothing', async () => {
    // A client that stops reading: its socket buffers fill, then Herald's bound is passed.
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${node.url}/events?user=slow`, { agent: false }, resolve).once('error', reject);
    });
    response.pause();
    const chunk = 'x'.repeat(50_000);
    const total = 300; // 15 MB: far beyond loopback socket buffers and the 256 KiB bound
    const published: string[] = [];
    for (let i = 0; i < total; i += 10) {
      const batch = Array.from({ length: 10 }, (_, j) => ({
        to: { users: ['slow'] },
        data: `${i + j}:${chunk}`,
      }));
      const { status, body } = await postJson(`${node.url}/messages`, batch);
      assert.equal(status, 202);
      published.push(...body.ids);
    }
    // Flushes run before the next request is served, so the eviction has happened by now.
    const presence = await getJson(`${node.url}/presence/users/slow`);
    assert.equal(presence.body.connections, 0, 'the slow connection was closed');
    assert.equal(node.herald.hub.counters.slowConsumerCloses, 1);

    // The client wakes up: it reads what reached it, then reconnects from the last complete event.
    const received: { id: string | undefined; data: string }[] = [];
    const parser = createParser({ onEvent: (e) => received.push({ id: e.id, data: e.data }) });
    response.setEncoding('utf8');
    response.on('data', (text: string) => parser.feed(text));
    response.resume();
    await new Promise((resolve) => response.once('close', resolve));
    const before = received.filter((e) => !e.data.startsWith('{'));
    assert.ok(before.length < total, 'the slow client did not get everything before the close');
    const lastId = received.at(-1)?.id as string;

    const resumed = await openSse(`${node.url}/events?user=slow`, { 'last-event-id': lastId });
    const rest = await resumed.waitFor(total - before.length, isMessage, 20_000);
    resumed.close();
    const all = [...before, ...rest].map((e) => Number(e.data.slice(0, e.data.indexOf(':'))));
    assert.deepEqual(
      all,
      Array.from({ length: total }, (_, i) => i),
    );
    assert.equal(resumed.events.filter((e) => e.event === 'gap').length, 0);
  });

  test('a client replaying a long history is paced, not evicted', async () => {
    const first = await openSse(`${node.url}/events?user=replayer`);
    const [connected] = await first.waitFor(1);
    first.close();
    const chunk = 'y'.repeat(4000);
    for (let i = 0; i < 400; i += 100) {
      const batch = Array.from({ length: 100 }, (_, j) => ({
        to: { users: ['replayer'] },
        data: `${i + j}:${chunk}`,
      }));
      assert.equal((await postJson(`${node.url}/messages`, batch)).status, 202);
    }
    const resumed = await openSse(`${node.url}/events?user=replayer`, {
      'last-event-id': connected?.id ?? '',
    });
    const replayed = await resumed.waitFor(400, isMessage, 20_000);
    resumed.close();
    assert.equal(replayed.length, 400);
    assert.equal(node.herald.hub.counters.slowConsumerCloses, 1, 'no eviction during a 1.6 MB replay');
  });
});
