import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import type { JsonBody } from '../helpers/herald.js';
import { startHerald, type TestHerald } from '../helpers/herald.js';
import { type NginxServer, nginxSkip, startNginx } from '../helpers/nginx.js';
import { freePort } from '../helpers/redis.js';
import { isMessage, openSse, type SseConnection } from '../helpers/sse-client.js';
import { selfSignedCertificate, type TestCertificate } from '../helpers/tls.js';

// Debian's nginx in front of Herald with the site docs/deploy.md shows, read from that page so the two
// cannot drift: only the listen ports, the upstream's port and the certificate paths are replaced (and the
// IPv6 listeners dropped: the test listens on 127.0.0.1 only). TLS stays on, with a throwaway certificate.

const DEPLOY_DOC = new URL('../../../docs/deploy.md', import.meta.url);
const SITE_START = '```nginx\n# /etc/nginx/sites-available/herald\n';

/** The nginx site of docs/deploy.md. */
async function documentedSite(): Promise<string> {
  const doc = await readFile(DEPLOY_DOC, 'utf8');
  const start = doc.indexOf(SITE_START);
  assert.ok(start >= 0, 'docs/deploy.md shows the nginx site');
  const body = doc.slice(start + '```nginx\n'.length);
  return body.slice(0, body.indexOf('```'));
}

/** `site` with each `from` replaced by its `to`; every one must occur exactly once. */
function substitute(site: string, replacements: readonly (readonly [string, string])[]): string {
  let result = site;
  for (const [from, to] of replacements) {
    assert.equal(result.split(from).length, 2, `the site has exactly one ${JSON.stringify(from)}`);
    result = result.replace(from, to);
  }
  return result;
}

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: JsonBody;
}

describe('behind nginx with the documented site', { skip: nginxSkip }, () => {
  let certificate: TestCertificate;
  let herald: TestHerald;
  let nginx: NginxServer;
  let base: string;
  let plainBase: string;
  const open = new Set<SseConnection>();

  /** A request through nginx over TLS; the body parsed as JSON when there is one. */
  const call = (
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; localAddress?: string } = {},
  ): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      const request = https.request(`${base}${path}`, {
        method,
        ca: certificate.cert,
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      });
      request.once('error', reject);
      request.once('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.once('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: text === '' ? undefined : JSON.parse(text),
          }),
        );
      });
      request.end(payload);
    });

  const publish = async (to: Record<string, unknown>, data: string): Promise<string> => {
    const { status, body } = await call('POST', '/messages', { body: { to, data } });
    assert.equal(status, 202, JSON.stringify(body));
    return body.id as string;
  };

  /** A stream through nginx, from `localAddress` (another loopback address is another client). */
  const stream = async (
    query: string,
    headers: Record<string, string> = {},
    localAddress?: string,
  ): Promise<SseConnection> => {
    const connection = await openSse(`${base}/events?${query}`, headers, {
      ca: certificate.cert,
      ...(localAddress === undefined ? {} : { localAddress }),
    });
    open.add(connection);
    return connection;
  };

  const closeStreams = async (): Promise<void> => {
    for (const connection of open) {
      connection.close();
      await connection.ended;
    }
    open.clear();
  };

  before(async () => {
    certificate = selfSignedCertificate();
    // No heartbeat: nothing but the events themselves can push bytes through a buffer.
    herald = await startHerald({ trustProxy: '127.0.0.1', maxConnectionsPerIp: 2, heartbeatMs: 0 });
    const heraldPort = new URL(herald.url).port;
    const [tlsPort, plainPort] = [await freePort(), await freePort()];
    const site = substitute(await documentedSite(), [
      ['server 127.0.0.1:8080;', `server 127.0.0.1:${heraldPort};`],
      ['listen 80;', `listen 127.0.0.1:${plainPort};`],
      ['    listen [::]:80;\n', ''],
      ['listen 443 ssl http2;', `listen 127.0.0.1:${tlsPort} ssl http2;`],
      ['    listen [::]:443 ssl http2;\n', ''],
      ['/etc/letsencrypt/live/push.example.com/fullchain.pem', certificate.certPath],
      ['/etc/letsencrypt/live/push.example.com/privkey.pem', certificate.keyPath],
    ]);
    nginx = await startNginx(site, [tlsPort, plainPort]);
    base = `https://127.0.0.1:${tlsPort}`;
    plainBase = `http://127.0.0.1:${plainPort}`;
  });

  after(async () => {
    await closeStreams();
    await nginx?.stop();
    if (herald !== undefined) {
      const closing = herald.close();
      (herald.herald.app.server as http.Server).closeAllConnections();
      await closing;
    }
    certificate?.remove();
  });

  test('plain HTTP is redirected to HTTPS', async () => {
    const response = await fetch(`${plainBase}/events?user=ann`, { redirect: 'manual' });
    assert.equal(response.status, 301);
    assert.match(response.headers.get('location') ?? '', /^https:\/\/127\.0\.0\.1\/events\?user=ann$/);
  });

  test('each event comes through as it is published, the response still open, nothing buffered', async (t) => {
    t.after(closeStreams);
    const events = await stream('user=ann');
    assert.equal(events.status, 200);
    assert.match(String(events.headers['content-type']), /^text\/event-stream/);
    await events.waitFor(1, (e) => e.event === 'connected');
    for (const data of ['first', 'second']) {
      const id = await publish({ users: ['ann'] }, data);
      const received = await events.waitFor(1, (e) => isMessage(e) && e.data === data);
      assert.equal(received[0]?.id, id);
      // What arrived ends with this event: no later bytes were needed to push it through.
      assert.ok(events.raw().endsWith(`id: ${id}\ndata: ${data}\n\n`), JSON.stringify(events.raw()));
      assert.equal(events.response.complete, false, 'the response is still open');
    }
  });

  test('a reconnect with Last-Event-ID through nginx gets exactly what it missed, in order', async (t) => {
    t.after(closeStreams);
    const first = await stream('user=bob');
    await first.waitFor(1, (e) => e.event === 'connected');
    await publish({ users: ['bob'] }, 'seen');
    await first.waitFor(1, isMessage);
    const lastEventId = first.lastEventId() as string;
    first.close();
    await first.ended;
    const missed = [
      await publish({ users: ['bob'] }, 'missed 1'),
      await publish({ users: ['bob'] }, 'missed 2'),
    ];
    const resumed = await stream('user=bob', { 'last-event-id': lastEventId });
    const replayed = await resumed.waitFor(2, isMessage);
    assert.deepEqual(
      replayed.map((e) => [e.id, e.data]),
      [
        [missed[0], 'missed 1'],
        [missed[1], 'missed 2'],
      ],
    );
    assert.equal(resumed.events.filter((e) => e.event === 'gap').length, 0);
  });

  test('X-Forwarded-For reaches the per-address limit (--trust-proxy 127.0.0.1); a client cannot pick its own', async (t) => {
    t.after(closeStreams);
    // Two clients, 127.0.0.2 and 127.0.0.3, both behind the same nginx (which reaches Herald from 127.0.0.1).
    for (const user of ['cat', 'dan']) {
      const events = await stream(`user=${user}`, {}, '127.0.0.2');
      assert.equal(events.status, 200);
      await events.waitFor(1, (e) => e.event === 'connected');
    }
    const third = await call('GET', '/events?user=eve', { localAddress: '127.0.0.2' });
    assert.equal(third.status, 429);
    assert.equal(third.body.code ?? third.body.type.split('/').at(-1), 'too-many-connections');
    const spoofed = await call('GET', '/events?user=eve', {
      localAddress: '127.0.0.2',
      headers: { 'x-forwarded-for': '10.1.2.3' },
    });
    assert.equal(spoofed.status, 429, 'an X-Forwarded-For of the client’s own does not reset its count');
    const other = await stream('user=eve', {}, '127.0.0.3');
    assert.equal(other.status, 200, 'another client address has its own count');
    await other.waitFor(1, (e) => e.event === 'connected');
    const { body } = await call('GET', '/admin/api/users/cat');
    assert.deepEqual(
      body.connectionList.map((c: { remoteAddress: string }) => c.remoteAddress),
      ['127.0.0.2'],
    );
  });

  test('long-polling through nginx: a waiting poll answers with the message published meanwhile', async () => {
    const start = await call('GET', '/poll?user=fay');
    assert.equal(start.status, 200);
    assert.deepEqual(start.body.messages, []);
    const { lastEventId, session } = start.body as { lastEventId: string; session: string };
    const waiting = call(
      'GET',
      `/poll?user=fay&lastEventId=${encodeURIComponent(lastEventId)}&session=${session}`,
    );
    const id = await publish({ users: ['fay'] }, 'polled');
    const answer = await waiting;
    assert.equal(answer.status, 200);
    assert.deepEqual(
      answer.body.messages.map((m: { id: string; data: string }) => [m.id, m.data]),
      [[id, 'polled']],
    );
  });
});
