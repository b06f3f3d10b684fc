import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import { createParser } from 'eventsource-parser';
import { loadConfig } from '../../src/config.js';
import { startHerald, type TestHerald } from '../helpers/herald.js';
import { selfSignedCertificate, type TestCertificate } from '../helpers/tls.js';

interface H2Event {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

/** An SSE stream on an HTTP/2 session; `next(filter)` resolves with the next matching event. */
function h2Stream(session: http2.ClientHttp2Session, path: string) {
  const stream = session.request({ ':path': path, accept: 'text/event-stream' });
  const events: H2Event[] = [];
  const waiters = new Set<() => void>();
  const parser = createParser({
    onEvent: (e) => {
      events.push({ id: e.id, event: e.event ?? 'message', data: e.data });
      for (const waiter of [...waiters]) waiter();
    },
  });
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => parser.feed(chunk));
  const headers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
  const next = (filter: (e: H2Event) => boolean): Promise<H2Event> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out: ${JSON.stringify(events)}`)), 5000);
      const check = (): void => {
        const found = events.find(filter);
        if (found === undefined) return;
        events.splice(events.indexOf(found), 1);
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      waiters.add(check);
      check();
    });
  return { stream, headers, next };
}

/** A complete request on an HTTP/2 session: status and parsed JSON body. */
function h2Json(
  session: http2.ClientHttp2Session,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = {
      ':path': path,
      ':method': body === undefined ? 'GET' : 'POST',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const request = session.request(headers);
    let status = 0;
    let text = '';
    request.on('response', (h) => {
      status = Number(h[':status']);
    });
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      text += chunk;
    });
    request.on('end', () => resolve({ status, body: JSON.parse(text) }));
    request.on('error', reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Streams, publishing, presence and long-polling over one HTTP/2 session. */
async function exerciseHttp2(session: http2.ClientHttp2Session): Promise<void> {
  const streams = ['a', 'b', 'c'].map((name) => h2Stream(session, `/events?user=h2-${name}&group=all-h2`));
  for (const s of streams) {
    const headers = await s.headers;
    assert.equal(headers[':status'], 200);
    assert.equal(headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(headers.connection, undefined, 'no connection header on HTTP/2');
    await s.next((e) => e.event === 'connected');
  }
  const presence = await h2Json(session, '/presence');
  assert.equal(presence.body.connections, 3, 'three streams, one TCP connection');
  const first = await h2Json(session, '/poll?user=h2-poller&group=all-h2');
  const polling = h2Json(session, `/poll?user=h2-poller&group=all-h2&lastEventId=${first.body.lastEventId}`);
  const published = await h2Json(session, '/messages', { to: { groups: ['all-h2'] }, data: { hello: 'h2' } });
  assert.equal(published.status, 202);
  for (const s of streams) {
    const message = await s.next((e) => e.event === 'message');
    assert.equal(message.data, '{"hello":"h2"}');
    assert.equal(message.id, published.body.id);
  }
  const polled = await polling;
  assert.deepEqual(polled.body.messages, [
    { id: published.body.id, data: '{"hello":"h2"}', json: true, groups: ['all-h2'] },
  ]);
  for (const s of streams) s.stream.close();
}

describe('HTTP/2 over TLS, with HTTP/1.1 on the same port (ALPN)', () => {
  let cert: TestCertificate;
  let node: TestHerald;
  before(async () => {
    cert = selfSignedCertificate();
    node = await startHerald({ tlsCert: cert.certPath, tlsKey: cert.keyPath });
  });
  after(async () => {
    await node.close();
    cert.remove();
  });

  test('listen() reports an https URL', () => {
    assert.match(node.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  test('SSE, publishing, presence and long-polling work over HTTP/2, many streams on one connection', async () => {
    const session = http2.connect(node.url, { ca: cert.cert });
    try {
      await new Promise((resolve) => session.once('connect', resolve));
      assert.equal(session.alpnProtocol, 'h2');
      await exerciseHttp2(session);
    } finally {
      session.close();
    }
  });

  test('an HTTP/1.1 client on the same port gets SSE over HTTP/1.1', async () => {
    const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      https.get(`${node.url}/events?user=h1`, { ca: cert.cert, agent: false }, resolve).on('error', reject);
    });
    assert.equal(response.httpVersion, '1.1');
    assert.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8');
    // HTTP/1.1 streams are close-delimited (no chunking): the stream ends with the connection.
    assert.equal(response.headers.connection, 'close');
    assert.equal(response.headers['transfer-encoding'], undefined);
    response.setEncoding('utf8');
    const first = await new Promise<string>((resolve) => response.once('data', resolve));
    assert.match(first, /event: connected/);
    response.destroy();
  });
});

describe('cleartext HTTP/2 (--h2c)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({ h2c: true });
  });
  after(() => node.close());

  test('SSE, publishing, presence and long-polling work over h2c', async () => {
    const session = http2.connect(node.url);
    try {
      await exerciseHttp2(session);
    } finally {
      session.close();
    }
  });
});

describe('TLS options', () => {
  test('--tls-cert and --tls-key go together, and exclude --h2c', () => {
    assert.throws(() => loadConfig(['--tls-cert', 'c.pem'], {}), /go together/);
    assert.throws(() => loadConfig(['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--h2c'], {}), /h2c/);
    assert.equal(loadConfig(['--h2c'], {}).h2c, true);
    assert.equal(loadConfig([], { HERALD_TLS_CERT: 'c.pem', HERALD_TLS_KEY: 'k.pem' }).tlsKey, 'k.pem');
  });
});
