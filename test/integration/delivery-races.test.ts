import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createParser } from 'eventsource-parser';
import { eventually } from '../helpers/eventually.js';
import { postJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';
import { type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { isMessage, openSse, type ReceivedEvent } from '../helpers/sse-client.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * An SSE stream whose client reads only when told to: its socket buffers fill and the server's writes to
 * it stall (a slow link, or a client busy elsewhere). It starts paused.
 */
interface HeldStream {
  readonly events: ReceivedEvent[];
  /** Reads on; with `until`, pauses again as soon as an event matching it was parsed. */
  read(until?: (event: ReceivedEvent) => boolean): void;
  close(): void;
}

async function openHeldStream(url: string, lastEventId: string): Promise<HeldStream> {
  const request = http.get(url, {
    headers: { accept: 'text/event-stream', 'last-event-id': lastEventId },
    agent: false,
  });
  request.on('error', () => {});
  // The response arrives once the stream is registered: its headers go out with the greeting.
  const response = await new Promise<http.IncomingMessage>((resolve) => request.once('response', resolve));
  // Paused before the 'data' listener is added, so it stays paused until `read`.
  response.pause();
  const events: ReceivedEvent[] = [];
  let until: ((event: ReceivedEvent) => boolean) | undefined;
  const parser = createParser({
    onEvent(e) {
      const event = { id: e.id, event: e.event ?? 'message', data: e.data };
      events.push(event);
      if (until?.(event)) {
        until = undefined;
        response.pause();
      }
    },
  });
  response.setEncoding('utf8');
  response.on('data', (text: string) => parser.feed(text));
  return {
    events,
    read(condition) {
      until = condition;
      response.resume();
    },
    close: () => request.destroy(),
  };
}

/** The number a test message starts with (`<n>:<padding>`). */
const indexOf = (e: ReceivedEvent): number => Number(e.data.slice(0, e.data.indexOf(':')));
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Publishes messages `from..to` to `user`, `perRequest` a request, each `<n>:` and `size` bytes of padding. */
async function publishRange(
  url: string,
  user: string,
  from: number,
  to: number,
  size: number,
  perRequest = 10,
): Promise<string[]> {
  const padding = 'x'.repeat(size);
  const ids: string[] = [];
  for (let n = from; n <= to; n += perRequest) {
    const batch = range(n, Math.min(to, n + perRequest - 1)).map((i) => ({
      to: { users: [user] },
      data: `${i}:${padding}`,
    }));
    const { status, body } = await postJson(`${url}/messages`, batch);
    assert.equal(status, 202, JSON.stringify(body));
    ids.push(...body.ids);
  }
  return ids;
}

/** The id a fresh stream of `user` starts from (its `connected` event). */
async function currentPosition(url: string, user: string): Promise<string> {
  const stream = await openSse(`${url}/events?user=${user}`);
  const [connected] = await stream.waitFor(1);
  stream.close();
  await stream.ended;
  return connected?.id as string;
}

describe('delivery while other connections of the user are replaying', () => {
  test('a live connection of a user receives every message while another of its connections is evicted mid-delivery', {
    timeout: 30_000,
  }, async () => {
    const node = await startHerald({ maxBufferedBytes: 64 * 1024, bodyLimitBytes: 1024 * 1024 });
    try {
      const user = 'twice';
      const start = await currentPosition(node.url, user);
      // 12 MB of history, in 600 messages: more than a replay page (100 now; 500 in older hubs), and far
      // more than the kernel's socket buffers take for a client that does not read.
      await publishRange(node.url, user, 1, 600, 20_000);
      // S1 resumes from before that history and does not read: its replay stalls, holding what comes live.
      // It is the user's first connection, so the router visits it first.
      const s1 = await openHeldStream(`${node.url}/events?user=${user}`, start);
      const s2 = await openSse(`${node.url}/events?user=${user}`);
      await s2.waitFor(1, (e) => e.event === 'connected');
      const closesBefore = node.herald.hub.counters.slowConsumerCloses;

      // 8 live messages of 20 KB: S1's held messages pass its 64 KiB bound at the 4th, and it is evicted
      // while that message is being routed to the user's connections.
      const padding = 'z'.repeat(20_000);
      const live: string[] = [];
      for (let i = 1; i <= 8; i++) {
        live.push(await publish(node.url, { to: { users: [user] }, data: `${i}:${padding}` }));
      }
      assert.equal(
        node.herald.hub.counters.slowConsumerCloses,
        closesBefore + 1,
        'S1 was evicted while its held messages passed the bound',
      );
      s1.close();

      await s2.waitFor(1, (e) => e.id === live.at(-1));
      const received = s2.events.filter(isMessage);
      assert.deepEqual(received.map(indexOf), range(1, 8), 'S2 received every live message, in order, once');
      assert.deepEqual(
        received.map((e) => e.id),
        live,
      );
      assert.equal(s2.events.filter((e) => e.event === 'gap').length, 0, 'no gap');
      s2.close();
    } finally {
      await node.close();
    }
  });

  test('history trimmed in the middle of a paced replay repeats nothing and loses nothing it had covered', {
    timeout: 60_000,
  }, async () => {
    // Replay pages hold 100 messages; the history keeps 200. Messages of 120 KB make a page 12 MB, more
    // than the socket buffers take from a client that stops reading, so the replay stalls where it pauses.
    // (The hub before bf45d08 read pages of 500 by default: there the history below is one page.)
    const size = 120_000;
    const node = await startHerald({
      historySize: 200,
      maxBufferedBytes: 128 * 1024 * 1024,
      bodyLimitBytes: 2 * 1024 * 1024,
    });
    try {
      const user = 'paced';
      const start = await currentPosition(node.url, user);
      await publishRange(node.url, user, 1, 150, size);
      // C registers after message 150 and replays 1..100 (page 1), stalled: it does not read.
      const c = await openHeldStream(`${node.url}/events?user=${user}`, start);
      // Newer than its registration, held: 151..250. History is 51..250: page 2 still follows page 1.
      await publishRange(node.url, user, 151, 250, size);
      // C reads until the first message of page 2 (101..200, past its registration, and more after it),
      // then stalls again: page 2 was read from the log, and the rest of it (12 MB) waits on C.
      c.read((e) => e.event === 'message' && indexOf(e) === 101);
      await eventually('C received message 101', () => c.events.some((e) => indexOf(e) === 101));
      // 251..401, held: the history now starts at 202, so the page after 200 is gone (expired by count).
      await publishRange(node.url, user, 251, 401, size);
      // C reads everything; the replay finds the history trimmed after page 2 and the held messages follow.
      c.read();
      await eventually(
        'C received message 401',
        () => c.events.some((e) => e.event === 'message' && indexOf(e) === 401),
        20_000,
      );
      c.close();

      const received = c.events.filter(isMessage).map(indexOf);
      const duplicates = received.filter((n, i) => received.indexOf(n) !== i);
      assert.equal(
        duplicates.length,
        0,
        `no message was received twice (received twice: ${duplicates.length} messages, ${duplicates[0]}..${duplicates.at(-1)})`,
      );
      assert.deepEqual(
        received,
        range(1, 401),
        'every message, in order: the history C resumed and the held ones',
      );
      assert.deepEqual(
        c.events.filter((e) => e.event === 'gap'),
        [],
        'no gap: nothing C was owed is missing',
      );
      assert.equal(node.herald.hub.counters.replayed, 200, 'the replay ran out of history after page 2');
    } finally {
      await node.close();
    }
  });
});

describe('resuming on a node that is behind the shared log', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let proxy: TcpProxy;
  let a: TestHerald;
  let b: TestHerald;
  before(async () => {
    redis = await startRedis();
    proxy = await startTcpProxy(redis.port);
    b = await startHerald({ log: redis.url, redisPrefix: 'races:' });
    a = await startHerald({ log: `redis://127.0.0.1:${proxy.port}/0`, redisPrefix: 'races:' });
    // Node A's link to Redis is slow: its tail (and its replay reads) run 250 ms each way behind.
    proxy.slow(250);
  });
  after(async () => {
    await a?.close().catch(() => {});
    await b?.close().catch(() => {});
    await proxy?.close();
    await redis?.stop();
  });

  test('a resume on a node that is behind the log does not repeat the message the client already read on another node', {
    timeout: 60_000,
  }, async () => {
    for (let round = 1; round <= 4; round++) {
      const user = `mover${round}`;
      const onB = await openSse(`${b.url}/events?user=${user}`);
      await onB.waitFor(1, (e) => e.event === 'connected');
      const m = await publish(b.url, { to: { users: [user] }, data: `m${round}` });
      await onB.waitFor(1, isMessage);
      onB.close();
      // The client moves to node A at once, before A's tail has brought m: A's replay after m finds nothing.
      const onA = await openSse(`${a.url}/events?user=${user}`, { 'last-event-id': m });
      await eventually(`round ${round}: node A finished the replay`, () => {
        const subs = a.herald.hub.connectionsOf(user);
        return subs.length === 1 && subs[0]?.held === null;
      });
      const n = await publish(b.url, { to: { users: [user] }, data: `n${round}` });
      await onA.waitFor(1, (e) => e.id === n, 10_000);
      assert.deepEqual(
        onA.events.filter(isMessage).map((e) => [e.id, e.data]),
        [[n, `n${round}`]],
        `round ${round}: only n arrives on node A, once, and never m again`,
      );
      onA.close();
    }
  });
});
