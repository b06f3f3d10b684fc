import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { addressedTo, type Target, topicsOf } from '../../src/protocol/topics.js';
import { bearer, request, tokenFor } from '../helpers/auth.js';
import { startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { openSse, type SseConnection } from '../helpers/sse-client.js';
import { eventName, hostileText, received, wellFormedStream } from './arbitraries.js';

const ACCEPTED_STATUSES = new Set([202, 400, 409, 413, 415]);

/** A body that is sometimes a valid message, mostly not. */
const messageBody: fc.Arbitrary<unknown> = fc.oneof(
  fc.record(
    {
      to: fc.oneof(
        fc.record(
          {
            users: fc.array(fc.oneof(hostileText, fc.constantFrom('alice', 'bob')), { maxLength: 3 }),
            groups: fc.array(hostileText, { maxLength: 3 }),
            userPrefix: hostileText,
            all: fc.oneof(fc.boolean(), fc.jsonValue()),
          },
          { requiredKeys: [] },
        ),
        fc.jsonValue(),
      ),
      event: fc.oneof(hostileText, eventName, fc.jsonValue()),
      id: fc.oneof(hostileText, fc.jsonValue()),
      data: fc.oneof(hostileText, fc.jsonValue()),
      extra: fc.jsonValue(),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue(),
  fc.array(fc.jsonValue(), { maxLength: 4 }),
);

describe('publish API under random and malicious input (fast-check, real HTTP)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startSecureHerald({ publishRate: 0 });
  });
  after(() => node.close());

  test('any JSON body is a 202 or a precise 4xx problem, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(messageBody, async (body) => {
        const response = await request(`${node.url}/messages`, {
          headers: bearer(TEST_KEYS.publishKey),
          body,
        });
        assert.ok(ACCEPTED_STATUSES.has(response.status), `${response.status} for ${JSON.stringify(body)}`);
        if (response.status !== 202) {
          assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
          assert.equal(response.body.status, response.status);
          assert.equal(typeof response.body.detail, 'string');
        }
      }),
      { numRuns: 300 },
    );
  });

  test('any bytes with any content type are a 4xx problem or a 202, and the node stays up', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/json; charset=latin1',
          '',
        ),
        async (text, type) => {
          const response = await request(`${node.url}/messages`, {
            headers: { ...bearer(TEST_KEYS.publishKey), ...(type === '' ? {} : { 'content-type': type }) },
            body: text,
          });
          assert.ok(response.status < 500, `${response.status} for ${JSON.stringify(text)} as ${type}`);
        },
      ),
      { numRuns: 200 },
    );
    assert.equal((await request(`${node.url}/healthz`)).status, 200);
  });

  test('hostile subscribe requests never crash the node', async () => {
    const token = await tokenFor('alice', { groups: ['g1'] });
    await fc.assert(
      fc.asyncProperty(hostileText, hostileText, fc.boolean(), async (group, lastEventId, badUtf8) => {
        // Invalid UTF-8 (an overlong NUL) and every other byte, percent-encoded.
        const pct = (text: string): string =>
          (badUtf8 ? '%C0%80' : '') +
          [...Buffer.from(text)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
        const url = `${node.url}/events?group=${pct(group)}&lastEventId=${pct(lastEventId)}&token=${token}`;
        const response = await fetch(url);
        assert.ok(response.status < 500, `${response.status} for ${JSON.stringify(group)}`);
        await response.body?.cancel();
      }),
      { numRuns: 100 },
    );
  });
});

describe('no message reaches a stream it is not addressed to (fast-check, real HTTP)', () => {
  const audience = [
    { userId: 'alice', groups: ['g1'] },
    { userId: 'albert', groups: [] },
    { userId: 'bob', groups: ['g1', 'g2'] },
    { userId: 'carol', groups: ['g3'] },
  ];
  let node: TestHerald;
  const streams = new Map<string, SseConnection>();
  before(async () => {
    node = await startSecureHerald({ publishRate: 0 });
    for (const member of audience) {
      const stream = await openSse(
        `${node.url}/events`,
        bearer(await tokenFor(member.userId, { groups: member.groups })),
      );
      await stream.waitFor(1, (e) => e.event === 'connected');
      stream.events.length = 0;
      streams.set(member.userId, stream);
    }
  });
  after(async () => {
    for (const stream of streams.values()) stream.close();
    await node.close();
  });

  const target: fc.Arbitrary<Target> = fc.record(
    {
      users: fc.uniqueArray(fc.constantFrom('alice', 'albert', 'bob', 'carol', 'dave'), { maxLength: 3 }),
      groups: fc.uniqueArray(fc.constantFrom('g1', 'g2', 'g3', 'g4'), { maxLength: 2 }),
      userPrefix: fc.constantFrom('a', 'al', 'alb', 'b', 'z'),
      all: fc.constant(true),
    },
    { requiredKeys: [] },
  );
  const message = fc.record({
    to: target,
    event: fc.option(eventName, { nil: undefined }),
    data: hostileText,
  });

  test('each stream gets exactly its messages, in order, intact, in well-formed frames', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (messages, asBatch) => {
          run++;
          const accepted: typeof messages = [];
          const post = (body: unknown) =>
            request(`${node.url}/messages`, { headers: bearer(TEST_KEYS.publishKey), body });
          const valid = messages.filter((m) => topicsOf(m.to).length > 0);
          if (asBatch && valid.length > 0) {
            assert.equal((await post(valid)).status, 202);
            accepted.push(...valid);
          } else {
            for (const m of messages) {
              const response = await post(m);
              if (response.status === 202) accepted.push(m);
              else assert.equal(response.status, 400);
            }
          }
          assert.equal((await post({ to: { all: true }, event: 'sentinel', data: String(run) })).status, 202);
          for (const member of audience) {
            const stream = streams.get(member.userId) as SseConnection;
            await stream.waitFor(1, (e) => e.event === 'sentinel' && e.data === String(run));
            const got = stream.events.filter((e) => e.event !== 'sentinel');
            stream.events.length = 0;
            const expected = accepted.filter((m) => addressedTo(topicsOf(m.to), member));
            assert.deepEqual(
              got.map((e) => [e.event, e.data]),
              expected.map((m) => [m.event ?? 'message', received(m.data)]),
              `stream of ${member.userId}`,
            );
          }
        },
      ),
      { numRuns: 60 },
    );
    for (const stream of streams.values())
      assert.ok(wellFormedStream(stream.raw()), 'every frame well formed');
  });
});
