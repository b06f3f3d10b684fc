import assert from 'node:assert/strict';
import type http from 'node:http';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { PollResponse } from '../../src/protocol/wire.js';
import { type JsonBody, postJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';
import { type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { isMessage, openSse, type ReceivedEvent, type SseConnection } from '../helpers/sse-client.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

// The node's command connection reconnects on its own backoff after Redis restarted: until then a poll,
// a resume or a publish answers "log unavailable", and the client tries again, as a real one would.
const RECONNECT_DEADLINE_MS = 5000;
const RETRY_MS = 20;

/**
 * Closes the node, and with it the sockets fetch's pool opened but never used (Node would hold the close
 * for their headers timeout).
 */
async function closeHerald(node: TestHerald): Promise<void> {
  const closing = node.close();
  (node.herald.app.server as http.Server).closeAllConnections();
  await closing;
}

/** A node of its own on `redis`: dev mode, a key prefix of its own, short polls. */
function startNode(redis: RedisServer, prefix: string): Promise<TestHerald> {
  return startHerald({ log: redis.url, redisPrefix: prefix, pollTimeoutMs: 300, pollGraceMs: 5000 });
}

/** One `GET /poll`, tried again while the node cannot reach Redis (503); fails on any other answer. */
async function poll(base: string, query: Record<string, string | undefined>): Promise<PollResponse> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, value);
  const deadline = Date.now() + RECONNECT_DEADLINE_MS;
  for (;;) {
    const response = await fetch(`${base}/poll?${params}`);
    const body = (await response.json()) as JsonBody;
    if (response.status === 200) return body as PollResponse;
    if (response.status !== 503 || Date.now() > deadline) {
      throw new Error(`poll answered ${response.status}: ${JSON.stringify(body)}`);
    }
    await delay(RETRY_MS);
  }
}

/** Publishes one message, trying again while the node's command connection reconnects (503). */
async function publishOnceUp(base: string, message: Record<string, unknown>): Promise<string> {
  const deadline = Date.now() + RECONNECT_DEADLINE_MS;
  for (;;) {
    const { status, body } = await postJson(`${base}/messages`, message);
    if (status === 202) return body.id as string;
    if (status !== 503 || Date.now() > deadline) {
      throw new Error(`publish answered ${status}: ${JSON.stringify(body)}`);
    }
    await delay(RETRY_MS);
  }
}

const isGap = (e: ReceivedEvent): boolean => e.event === 'gap';

/**
 * Resumes a stream with `lastEventId` and waits for its first answer after the greeting: a `gap`, a
 * message or a `disconnect`. A resume the node could not read from Redis yet (`disconnect`:
 * log-unavailable) is tried again.
 */
async function resume(
  base: string,
  user: string,
  lastEventId: string,
): Promise<{ stream: SseConnection; first: ReceivedEvent }> {
  const deadline = Date.now() + RECONNECT_DEADLINE_MS;
  for (;;) {
    const stream = await openSse(`${base}/events?user=${user}`, { 'last-event-id': lastEventId });
    if (stream.status === 200) {
      const [first] = await stream
        .waitFor(1, (e) => isGap(e) || isMessage(e) || e.event === 'disconnect', 3000)
        .catch((error: Error) => {
          stream.close();
          throw error;
        });
      if (first !== undefined && first.event !== 'disconnect') return { stream, first };
    }
    stream.close();
    if (Date.now() > deadline) {
      throw new Error(`resume answered ${stream.status}: ${JSON.stringify(stream.events)}`);
    }
    await delay(RETRY_MS);
  }
}

describe('Redis restarted without its data (a new epoch)', { skip: redisSkip }, () => {
  test('after Redis restarted empty, a long-polling client is told of the gap once and then receives what is published', async () => {
    const redis = await startRedis();
    const node = await startNode(redis, 'rr-poll:');
    try {
      const to = { users: ['pia'] };
      const first = await poll(node.url, { user: 'pia' });
      await publish(node.url, { to, data: 'old' });
      const old = await poll(node.url, {
        user: 'pia',
        lastEventId: first.lastEventId,
        session: first.session,
      });
      assert.deepEqual(
        old.messages.map((m) => m.data),
        ['old'],
      );

      await redis.restart({ wipe: true });
      // At once: the node's tail has not reconnected yet (no wait for /readyz); only the poll's read sees
      // that the log restarted.
      const answers: PollResponse[] = [];
      let answer = await poll(node.url, { user: 'pia', lastEventId: old.lastEventId, session: old.session });
      answers.push(answer);
      assert.equal(answer.gap?.reason, 'unknown-id', 'the old id is unknown to the new log');
      const id = await publishOnceUp(node.url, { to, data: 'after the restart' });

      // Keep polling as a client does, from each answer's resume point, until the message arrives (or a
      // second gap says it was lost).
      const deadline = Date.now() + 3000;
      while (!answer.messages.some((m) => m.id === id) && answers.filter((a) => a.gap).length < 2) {
        if (Date.now() > deadline) break;
        answer = await poll(node.url, {
          user: 'pia',
          lastEventId: answer.lastEventId,
          session: answer.session,
        });
        answers.push(answer);
      }
      const summary = JSON.stringify(answers);
      assert.equal(answers.filter((a) => a.gap).length, 1, `told of the gap once: ${summary}`);
      assert.deepEqual(
        answers.flatMap((a) => a.messages.map((m) => [m.id, m.data])),
        [[id, 'after the restart']],
        `what was published after the gap arrives: ${summary}`,
      );
    } finally {
      await closeHerald(node);
      await redis.stop();
    }
  });

  test('after Redis restarted empty, a long-polling client whose last id was chosen by the publisher is told of the gap once', async () => {
    const redis = await startRedis();
    const node = await startNode(redis, 'rr-pid:');
    try {
      const to = { users: ['pat'] };
      const first = await poll(node.url, { user: 'pat' });
      await publish(node.url, { to, data: 'old', id: 'order-1' });
      const old = await poll(node.url, {
        user: 'pat',
        lastEventId: first.lastEventId,
        session: first.session,
      });
      assert.equal(old.lastEventId, 'order-1');

      await redis.restart({ wipe: true });
      // At once, before the node's tail noticed: the publisher id is unknown to the new log, and so is
      // every position of the old one; the gap must resume from the new log, or the next poll is a second gap.
      const told = await poll(node.url, { user: 'pat', lastEventId: old.lastEventId, session: old.session });
      assert.equal(told.gap?.reason, 'unknown-id', JSON.stringify(told));
      const id = await publishOnceUp(node.url, { to, data: 'after the restart' });
      const next = await poll(node.url, {
        user: 'pat',
        lastEventId: told.lastEventId,
        session: told.session,
      });
      assert.equal(
        next.gap,
        undefined,
        `told of the gap again (resumed from ${told.lastEventId}): ${JSON.stringify(next)}`,
      );
      assert.deepEqual(
        next.messages.map((m) => [m.id, m.data]),
        [[id, 'after the restart']],
      );
    } finally {
      await closeHerald(node);
      await redis.stop();
    }
  });

  test('after Redis restarted empty, an SSE client told of the gap is not told again when it reconnects', async () => {
    const redis = await startRedis();
    const node = await startNode(redis, 'rr-sse:');
    try {
      const to = { users: ['sid'] };
      const stream = await openSse(`${node.url}/events?user=sid`);
      await stream.waitFor(1);
      await publish(node.url, { to, data: 'old' });
      await stream.waitFor(1, isMessage);
      const oldId = stream.lastEventId() as string;
      stream.close();
      await stream.ended;

      await redis.restart({ wipe: true });
      // Reconnect at once, before the node's tail noticed the restart.
      const told = await resume(node.url, 'sid', oldId);
      assert.equal(told.first.event, 'gap', JSON.stringify(told.stream.events));
      assert.equal(JSON.parse(told.first.data).reason, 'unknown-id');
      const gapId = told.first.id as string;
      told.stream.close();
      await told.stream.ended;

      // Published while the client is away.
      const id = await publishOnceUp(node.url, { to, data: 'while away' });
      const again = await resume(node.url, 'sid', gapId);
      try {
        const events = JSON.stringify(again.stream.events);
        assert.notEqual(again.first.event, 'gap', `told of the gap again (resumed from ${gapId}): ${events}`);
        assert.deepEqual([again.first.id, again.first.data], [id, 'while away'], events);
      } finally {
        again.stream.close();
      }
    } finally {
      await closeHerald(node);
      await redis.stop();
    }
  });

  test('after Redis restarted empty, a live stream on a node that had not read the lost log yet is told with a gap', async () => {
    const redis = await startRedis();
    // Node A reads Redis over a slow link: a message published through node B is still on its way to A
    // when Redis restarts without its data, so A never reads it.
    const link = await startTcpProxy(redis.port);
    const a = await startHerald({ log: `redis://127.0.0.1:${link.port}/0`, redisPrefix: 'rr-live:' });
    const b = await startNode(redis, 'rr-live:');
    try {
      const to = { users: ['liv'] };
      const stream = await openSse(`${a.url}/events?user=liv`);
      await stream.waitFor(1);
      link.slow(1000);
      await publish(b.url, { to, data: 'lost with the log' });
      await redis.restart({ wipe: true });
      // The restart dropped the relayed connection, and the reply held on it; A reconnects at full speed.
      link.restore();
      const [gap] = await stream.waitFor(1, isGap, RECONNECT_DEADLINE_MS);
      assert.equal(JSON.parse(gap?.data ?? '{}').reason, 'unknown-id', JSON.stringify(stream.events));

      // The stream stays live on the new log.
      const id = await publishOnceUp(b.url, { to, data: 'after the restart' });
      await stream.waitFor(1, (e) => e.id === id, RECONNECT_DEADLINE_MS);
      const after = stream.events.slice(stream.events.indexOf(gap as ReceivedEvent) + 1);
      assert.deepEqual(
        after.filter(isMessage).map((e) => e.data),
        ['after the restart'],
        JSON.stringify(stream.events),
      );
      stream.close();
    } finally {
      await closeHerald(a);
      await closeHerald(b);
      await link.close();
      await redis.stop();
    }
  });
});
