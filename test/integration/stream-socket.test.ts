import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { Server } from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.js';
import { getJson, postJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

/** The server's side of every connection it accepts, in order. */
function serverSockets(node: TestHerald): net.Socket[] {
  const sockets: net.Socket[] = [];
  (node.herald.app.server as Server).on('connection', (socket: net.Socket) => sockets.push(socket));
  return sockets;
}

function connectionCount(node: TestHerald): Promise<number> {
  return new Promise((resolve, reject) => {
    (node.herald.app.server as Server).getConnections((error, count) =>
      error ? reject(error) : resolve(count),
    );
  });
}

/** Sockets not yet destroyed (kept-alive `fetch` connections count too). */
const live = (sockets: net.Socket[]): number => sockets.filter((socket) => !socket.destroyed).length;

/** True when Node's HTTP server no longer drives the socket: no parser, none of its listeners, no response. */
function detached(socket: net.Socket): boolean {
  const named = (event: string): string[] =>
    socket.listeners(event).map((listener) => (listener as { name?: string }).name ?? '');
  const held = socket as net.Socket & { parser?: unknown; _httpMessage?: unknown };
  return (
    held.parser == null &&
    held._httpMessage == null &&
    !named('data').some((name) => name.includes('socketOnData')) &&
    !named('end').some((name) => name.includes('socketOnEnd')) &&
    !named('close').some((name) => name.includes('socketOnClose')) &&
    !named('drain').some((name) => name.includes('socketOnDrain'))
  );
}

/** A raw HTTP/1.1 connection: what it received, and whether it ended with a FIN (not a reset). */
function rawConnection(node: TestHerald, text: string) {
  const { hostname, port } = new URL(node.url);
  const socket = net.connect(Number(port), hostname, () => socket.write(text));
  let received = '';
  let fin = false;
  let error: Error | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  socket.on('end', () => {
    fin = true;
  });
  socket.on('error', (e) => {
    error = e;
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    received: () => received,
    fin: () => fin,
    error: () => error,
  };
}

/** Waits for the connection to close; asserts it ended with this disconnect event and a FIN, no error. */
async function assertEndedWith(
  connection: ReturnType<typeof rawConnection>,
  reason: string,
  reconnect: boolean,
) {
  await connection.closed;
  const frame = `event: disconnect\ndata: ${JSON.stringify({ reason, reconnect })}\n\n`;
  assert.ok(connection.received().endsWith(frame), `ends with ${JSON.stringify(frame)}`);
  assert.ok(connection.fin(), 'ended with a FIN');
  assert.equal(connection.error(), undefined);
}

const eventsRequest = (user: string): string =>
  `GET /events?user=${user} HTTP/1.1\r\nHost: herald\r\nAccept: text/event-stream\r\n\r\n`;

describe('HTTP/1.1 stream sockets', () => {
  test('an idle stream socket is handed over from the HTTP server (no parser, no server listeners) and still counted', async () => {
    const node = await startHerald({ heartbeatMs: 0 });
    const sockets = serverSockets(node);
    try {
      const streams = await Promise.all(
        ['d-1', 'd-2', 'd-3'].map((u) =>
          openSse(`${node.url}/events?user=${u}`, { origin: 'http://app.example' }),
        ),
      );
      await Promise.all(streams.map((s) => s.waitFor(1)));
      assert.equal(sockets.length, 3);
      for (const socket of sockets) assert.ok(detached(socket), 'the HTTP server let go of the socket');
      assert.equal(await connectionCount(node), 3, 'the server still counts the connections');
      assert.equal(node.herald.hub.connectionCount, 3);
      const metrics = await fetch(`${node.url}/metrics`).then((r) => r.text());
      assert.match(metrics, /herald_connections(\{[^}]*\})? 3\b/);

      // Frames still reach a detached socket, and the x-request-id and CORS headers went out before it.
      const id = await publish(node.url, { to: { users: ['d-2'] }, data: 'after detach' });
      const [message] = (await streams[1]?.waitFor(1, isMessage)) ?? [];
      assert.equal(message?.id, id);
      assert.match(String(streams[1]?.headers['x-request-id']), /./);
      assert.equal(streams[1]?.headers['access-control-allow-origin'], 'http://app.example');

      const closing = sockets.find((socket) => socket.remotePort === streams[0]?.response.socket.localPort);
      streams[0]?.close();
      await eventually(
        'a client close frees the connection',
        async () => closing?.destroyed === true && (await connectionCount(node)) === live(sockets),
      );
      assert.equal(node.herald.hub.connectionCount, 2);
    } finally {
      await node.close();
    }
  });

  test('a detached stream ends with a disconnect event and a FIN on server-side close and on shutdown', async () => {
    const node = await startHerald({ heartbeatMs: 0 });
    const sockets = serverSockets(node);
    let closed = false;
    try {
      const kicked = rawConnection(node, eventsRequest('kick'));
      const staying = rawConnection(node, eventsRequest('stay'));
      await eventually('both streams open', () => node.herald.hub.connectionCount === 2);
      await eventually(
        'both greeted',
        () => kicked.received().includes('connected') && staying.received().includes('connected'),
      );
      assert.ok(sockets.every(detached));

      const answer = await fetch(`${node.url}/users/kick/connections`, { method: 'DELETE' });
      assert.equal(answer.status, 200);
      await assertEndedWith(kicked, 'closed-by-server', false);

      await node.close();
      closed = true;
      await assertEndedWith(staying, 'shutdown', true);
    } finally {
      if (!closed) await node.close();
    }
  });

  test('a stream whose client half-closes (FIN) or vanishes frees its limit slot, again and again', async () => {
    const node = await startHerald({ heartbeatMs: 0, maxConnectionsPerUser: 2 });
    const sockets = serverSockets(node);
    try {
      for (let round = 0; round < 3; round++) {
        const first = rawConnection(node, eventsRequest('limited'));
        const second = await openSse(`${node.url}/events?user=limited`);
        await second.waitFor(1);
        await eventually('first greeted', () => first.received().includes('connected'));
        const refused = await getJson(`${node.url}/events?user=limited`);
        assert.equal(refused.status, 429, 'the per-user limit holds');

        first.socket.end(); // a FIN, nothing else
        await first.closed;
        await eventually('the half-closed stream is gone', () => node.herald.hub.connectionCount === 1);
        const again = await openSse(`${node.url}/events?user=limited`);
        assert.equal(again.status, 200, 'its slot is free again');
        await again.waitFor(1);

        second.response.socket.destroy(); // vanishes without a word
        again.close();
        await eventually('all streams gone', () => node.herald.hub.connectionCount === 0);
      }
      assert.equal(await connectionCount(node), live(sockets), 'every closed stream left the count');
    } finally {
      await node.close();
    }
  });

  test('a detached stream whose client stops reading is closed as a slow consumer', async () => {
    const node = await startHerald({
      heartbeatMs: 0,
      maxBufferedBytes: 64 * 1024,
      bodyLimitBytes: 1024 * 1024,
    });
    const sockets = serverSockets(node);
    try {
      const slow = rawConnection(node, eventsRequest('stalled'));
      await eventually('greeted', () => slow.received().includes('connected'));
      assert.ok(sockets[0] !== undefined && detached(sockets[0]));
      slow.socket.pause();
      const chunk = 'z'.repeat(50_000);
      for (let i = 0; i < 100 && node.herald.hub.counters.slowConsumerCloses === 0; i++) {
        const batch = Array.from({ length: 10 }, () => ({ to: { users: ['stalled'] }, data: chunk }));
        assert.equal((await postJson(`${node.url}/messages`, batch)).status, 202);
      }
      assert.equal(node.herald.hub.counters.slowConsumerCloses, 1);
      await eventually('the server closed it', () => sockets[0]?.destroyed === true);
      assert.equal(node.herald.hub.connectionCount, 0);
      slow.socket.destroy();
    } finally {
      await node.close();
    }
  });

  test('at the drain deadline a detached stream that stopped reading is dropped, and the node stops', {
    timeout: 20_000,
  }, async () => {
    const node = await startHerald({
      heartbeatMs: 0,
      drainTimeoutMs: 300,
      maxBufferedBytes: 64 * 1024 * 1024,
      bodyLimitBytes: 1024 * 1024,
    });
    const sockets = serverSockets(node);
    const stuck = rawConnection(node, eventsRequest('stuck'));
    await eventually('greeted', () => stuck.received().includes('connected'));
    assert.ok(sockets[0] !== undefined && detached(sockets[0]));
    stuck.socket.pause();
    const chunk = 'q'.repeat(100_000);
    // Far beyond what loopback socket buffers hold, so the final event cannot go out.
    for (let i = 0; i < 8; i++) {
      const batch = Array.from({ length: 10 }, () => ({ to: { users: ['stuck'] }, data: chunk }));
      assert.equal((await postJson(`${node.url}/messages`, batch)).status, 202);
    }
    await eventually('output is stuck in the socket', () => (sockets[0]?.writableLength ?? 0) > 0);
    const startedAt = Date.now();
    await node.close();
    assert.ok(Date.now() - startedAt < 5000, `stopped in ${Date.now() - startedAt} ms`);
    assert.ok(sockets[0]?.destroyed, 'the stuck stream was dropped');
    stuck.socket.destroy();
  });

  test('pipelining: a stream behind another request starts once it is answered; a request behind a stream leaves it working', async () => {
    const node = await startHerald({ heartbeatMs: 0 });
    try {
      const behind = rawConnection(
        node,
        `GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n${eventsRequest('pipelined-behind')}`,
      );
      await eventually('greeted', () => behind.received().includes('event: connected'));
      assert.match(
        behind.received(),
        /^HTTP\/1\.1 200 OK\r\n[\s\S]*HTTP\/1\.1 200 OK\r\n[\s\S]*text\/event-stream/,
      );
      const ahead = rawConnection(
        node,
        `${eventsRequest('pipelined-ahead')}GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n`,
      );
      await eventually('greeted', () => ahead.received().includes('event: connected'));
      for (const user of ['pipelined-behind', 'pipelined-ahead']) {
        await publish(node.url, { to: { users: [user] }, data: `to ${user}` });
      }
      await eventually(
        'both streams got their message',
        () =>
          behind.received().includes('data: to pipelined-behind') &&
          ahead.received().includes('data: to pipelined-ahead'),
      );
      await fetch(`${node.url}/users/pipelined-ahead/connections`, { method: 'DELETE' });
      await ahead.closed;
      assert.match(ahead.received(), /event: disconnect\n/);
      behind.socket.destroy();
      await eventually('all streams gone', () => node.herald.hub.connectionCount === 0);
    } finally {
      await node.close();
    }
  });

  test('TCP keepalive: none while the heartbeat runs; with it off, an idle stream is probed after 30 s, not every second', async () => {
    /** The server side's keepalive timer of the connection from `local` (ms left), from `ss`; null when none. */
    const keepaliveOf = (node: TestHerald, local: number): number | null => {
      const port = new URL(node.url).port;
      const line = execFileSync(
        'ss',
        ['-tnoH', 'state', 'established', `( sport = :${port} and dport = :${local} )`],
        {
          encoding: 'utf8',
        },
      );
      assert.match(line, new RegExp(`:${port}\\s`), 'ss lists the connection');
      const timer = /timer:\(keepalive,(?:(\d+)min)?(\d+)(ms|sec)/.exec(line);
      if (timer === null) return null;
      return Number(timer[1] ?? 0) * 60_000 + Number(timer[2]) * (timer[3] === 'ms' ? 1 : 1000);
    };
    const openIdle = async (node: TestHerald): Promise<net.Socket> => {
      const { port } = new URL(node.url);
      const socket = net.connect(Number(port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('GET /events?user=idle HTTP/1.1\r\nHost: test\r\n\r\n');
      await new Promise((resolve) => socket.once('data', resolve));
      return socket;
    };
    for (const [heartbeatMs, expect] of [
      [0, 'keepalive'],
      [15_000, 'none'],
    ] as const) {
      const node = await startHerald({ heartbeatMs });
      try {
        const socket = await openIdle(node);
        const left = keepaliveOf(node, socket.localPort as number);
        if (expect === 'none') assert.equal(left, null, 'no keepalive timer while the heartbeat runs');
        else assert.ok(left !== null && left > 20_000, `keepalive in ${left} ms`);
        socket.destroy();
      } finally {
        await node.close();
      }
    }
  });
});
