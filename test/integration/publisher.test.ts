import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { PublishError, Publisher } from '../../src/publisher/index.js';
import { startHerald, startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { openSse, type SseConnection } from '../helpers/sse-client.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

/** Publish requests and messages a node accepted so far, from its `/metrics` text. */
function publishCounts(metrics: string): { requests: number; messages: number } {
  const value = (name: string): number =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0);
  return {
    requests: value('herald_publish_duration_seconds_count'),
    messages: value('herald_messages_published_total'),
  };
}

const countsOf = async (base: string) => publishCounts(await (await fetch(`${base}/metrics`)).text());

/** A user's stream, past its `connected` event. */
async function subscribe(base: string, user: string): Promise<SseConnection> {
  const stream = await openSse(`${base}/events?user=${user}`);
  await stream.waitFor(1, (e) => e.event === 'connected');
  return stream;
}

const rejection = async (promise: Promise<unknown>): Promise<PublishError> => {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(outcome instanceof PublishError, `expected a PublishError, got ${String(outcome)}`);
  return outcome;
};

describe('publisher SDK over HTTP/1.1', () => {
  let node: TestHerald;
  let publisher: Publisher;
  before(async () => {
    node = await startHerald();
    publisher = new Publisher({ url: node.url });
  });
  after(async () => {
    await publisher.close();
    await node.close();
  });

  test('concurrent publishes share one batch request, and each resolves with its own id', async () => {
    const stream = await subscribe(node.url, 'coalesce');
    const before = await countsOf(node.url);
    const ids = await Promise.all(
      [1, 2, 3, 4, 5].map((n) => publisher.publish({ to: { users: ['coalesce'] }, data: `m${n}` })),
    );
    const afterwards = await countsOf(node.url);
    assert.deepEqual(
      { requests: afterwards.requests - before.requests, messages: afterwards.messages - before.messages },
      { requests: 1, messages: 5 },
    );
    assert.equal(new Set(ids).size, 5);
    const events = await stream.waitFor(5, (e) => e.event === 'message');
    assert.deepEqual(
      events.map((e) => [e.id, e.data]),
      ids.map((id, i) => [id, `m${i + 1}`]),
    );
    stream.close();
  });

  test('a message with its own id resolves with it; without autoId, with the position Herald assigned', async () => {
    assert.equal(await publisher.publish({ to: { users: ['ids'] }, data: 'x', id: 'order-17' }), 'order-17');
    const plain = new Publisher({ url: node.url, autoId: false });
    try {
      const id = await plain.publish({ to: { users: ['ids'] }, data: 'y' });
      assert.match(id, /^\d/, 'a log position starts with a digit');
    } finally {
      await plain.close();
    }
  });

  test('a message Herald refuses rejects alone with its problem; the others of its batch are published', async () => {
    const stream = await subscribe(node.url, 'refusal');
    const good1 = publisher.publish({ to: { users: ['refusal'] }, data: 'first' });
    const bad = publisher.publish({ to: { users: ['no spaces here'] }, data: 'bad' });
    const good2 = publisher.publish({ to: { users: ['refusal'] }, data: 'second' });
    const error = await rejection(bad);
    assert.equal(error.status, 400);
    assert.equal(error.code, 'invalid-request');
    assert.equal(error.field, 'to.users[0]', 'the field as in a single publish, without the batch index');
    assert.equal(error.outcomeUnknown, false);
    const ids = await Promise.all([good1, good2]);
    const events = await stream.waitFor(2, (e) => e.event === 'message');
    assert.deepEqual(
      events.map((e) => [e.id, e.data]),
      [
        [ids[0], 'first'],
        [ids[1], 'second'],
      ],
    );
    stream.close();
  });

  test('an id used before rejects with duplicate-id, alone', async () => {
    await publisher.publish({ to: { users: ['dup'] }, data: 'original', id: 'invoice-9' });
    const reused = publisher.publish({ to: { users: ['dup'] }, data: 'again', id: 'invoice-9' });
    const other = publisher.publish({ to: { users: ['dup'] }, data: 'other' });
    const error = await rejection(reused);
    assert.equal(error.status, 409);
    assert.equal(error.code, 'duplicate-id');
    assert.equal(typeof (await other), 'string');
  });

  test('a batch over --body-limit is split until each part fits; every message is published', async () => {
    const small = await startHerald({ bodyLimitBytes: 4096 });
    const splitting = new Publisher({ url: small.url });
    try {
      const stream = await subscribe(small.url, 'big');
      const data = 'z'.repeat(300);
      const ids = await Promise.all(
        Array.from({ length: 40 }, () => splitting.publish({ to: { users: ['big'] }, data })),
      );
      assert.equal(new Set(ids).size, 40);
      const events = await stream.waitFor(40, (e) => e.event === 'message');
      assert.deepEqual(
        events.map((e) => e.id),
        ids,
      );
      stream.close();
    } finally {
      await splitting.close();
      await small.close();
    }
  });
});

test('the package exports the SDK as herald-push/publisher', async () => {
  const specifier = 'herald-push/publisher'; // resolved by Node through package.json "exports"
  const sdk = (await import(specifier)) as typeof import('../../src/publisher/index.js');
  assert.equal(sdk.Publisher, Publisher);
  assert.equal(sdk.PublishError, PublishError);
});

describe('publisher SDK retries', () => {
  test('a retry after the connection dropped before the answer does not duplicate the message', async () => {
    const node = await startHerald();
    const proxy = await startTcpProxy(Number(new URL(node.url).port));
    const publisher = new Publisher({ url: `http://127.0.0.1:${proxy.port}`, retryDelayMs: 10 });
    try {
      const stream = await subscribe(node.url, 'retry');
      proxy.hold(); // Herald serves the request, its answer never reaches the publisher
      const published = publisher.publish({ to: { users: ['retry'] }, data: 'once' });
      const [delivered] = await stream.waitFor(1, (e) => e.event === 'message');
      proxy.cut(); // the connection drops with the answer unseen
      proxy.restore();
      assert.equal(await published, delivered?.id, 'resolves with the id the stored message has');
      // The retry reached Herald and was refused as a duplicate: it was stored once.
      assert.deepEqual(
        node.logs.filter((line) => line.problem === 'duplicate-id').map((line) => line.msg),
        ['request rejected'],
      );
      await publisher.publish({ to: { users: ['retry'] }, data: 'after' });
      await stream.waitFor(1, (e) => e.data === 'after');
      assert.deepEqual(
        stream.events.filter((e) => e.event === 'message').map((e) => e.data),
        ['once', 'after'],
      );
      stream.close();
    } finally {
      await publisher.close();
      await proxy.close();
      await node.close();
    }
  });

  test('refused credentials reject every message of the batch with unauthorized; the key is sent', async () => {
    const node = await startSecureHerald();
    const anonymous = new Publisher({ url: node.url });
    const keyed = new Publisher({ url: node.url, key: TEST_KEYS.publishKey });
    try {
      const errors = await Promise.all(
        [1, 2].map((n) => rejection(anonymous.publish({ to: { users: ['a'] }, data: `${n}` }))),
      );
      assert.deepEqual(
        errors.map((e) => [e.status, e.code]),
        [
          [401, 'unauthorized'],
          [401, 'unauthorized'],
        ],
      );
      assert.equal(typeof (await keyed.publish({ to: { users: ['a'] }, data: 'ok' })), 'string');
    } finally {
      await anonymous.close();
      await keyed.close();
      await node.close();
    }
  });
});

/** A GET over an HTTP/2 session: status and body text. */
function h2Get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = session.request({ ':path': path });
    let status = 0;
    let text = '';
    request.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      text += chunk;
    });
    request.on('end', () => resolve({ status, text }));
    request.on('error', reject);
    request.end();
  });
}

describe('publisher SDK over HTTP/2 (h2c)', () => {
  let node: TestHerald;
  let session: http2.ClientHttp2Session;
  before(async () => {
    node = await startHerald({ h2c: true });
    session = http2.connect(node.url);
  });
  after(async () => {
    session.close();
    await node.close();
  });

  test('concurrent publishes share one request on the session, and a long-poll reads them in order', async () => {
    const publisher = new Publisher({ url: node.url, protocol: 'http2' });
    try {
      const first = JSON.parse((await h2Get(session, '/poll?user=h2-user')).text) as { lastEventId: string };
      const before = publishCounts((await h2Get(session, '/metrics')).text);
      const ids = await Promise.all(
        ['a', 'b', 'c', 'd'].map((data) => publisher.publish({ to: { users: ['h2-user'] }, data })),
      );
      const afterwards = publishCounts((await h2Get(session, '/metrics')).text);
      assert.equal(afterwards.requests - before.requests, 1);
      const polled = await h2Get(session, `/poll?user=h2-user&lastEventId=${first.lastEventId}`);
      const { messages } = JSON.parse(polled.text) as { messages: { id: string; data: string }[] };
      assert.deepEqual(
        messages.map((m) => [m.id, m.data]),
        [
          [ids[0], 'a'],
          [ids[1], 'b'],
          [ids[2], 'c'],
          [ids[3], 'd'],
        ],
      );
    } finally {
      await publisher.close();
    }
  });
});
