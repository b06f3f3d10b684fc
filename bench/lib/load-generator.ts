/**
 * The client side of the benchmarks, run as its own process (pinned to its own core): raw TCP sockets,
 * hand-made HTTP requests, and a minimal scan of the byte stream for message timestamps. Cheap enough
 * that it is not the bottleneck (the bench reports its CPU use beside the raw-socket reference): no HTTP
 * client, no SSE or WebSocket parser object per message.
 *
 * Every message the bench publishes carries `~t<send ms>,` in its data; the scan counts each occurrence
 * and takes the latency from it, whatever the framing around it (SSE, JSON-quoted SSE, WebSocket frames).
 * Publishing also happens here, over a few kept-alive raw connections, so one clock serves both ends.
 *
 * Controlled over IPC: `connect`, `disconnect`, `expect`, `publish`, `stats`, `close`.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** How subscribers talk to the server. */
export type ClientMode = 'sse' | 'socket.io';
/** How the server takes publishes: Herald's `POST /messages` JSON, or Nchan's `POST /pub?id=<channel>`. */
export type PublishStyle = 'herald' | 'nchan';

interface Connect {
  readonly cmd: 'connect';
  readonly port: number;
  readonly count: number;
  /** Index of the first subscriber (users are `u<index>`). */
  readonly first?: number;
  readonly mode: ClientMode;
  /** Request path of subscriber i; `{i}` is replaced by the index. */
  readonly path: string;
  /** `Last-Event-ID` to resume from, if any. */
  readonly lastEventId?: string;
  /** Loopback source addresses to spread connections over (ports run short past ~28k per pair). */
  readonly sources: readonly string[];
}
interface Publish {
  readonly cmd: 'publish';
  readonly port: number;
  readonly style: PublishStyle;
  /** `all`: broadcast; `user`: one random user of `users` per request; `batch`: `batch` random users per request. */
  readonly pattern: 'all' | 'user' | 'batch';
  readonly count: number;
  /** Requests per second; 0 means as fast as the responses come back. */
  readonly rate: number;
  readonly concurrency: number;
  readonly users: number;
  readonly batch?: number;
  /** Time cap in milliseconds: the loop stops here whatever is left. */
  readonly capMs: number;
}
type Command =
  | Connect
  | Publish
  | { readonly cmd: 'disconnect' }
  | { readonly cmd: 'expect'; readonly total: number }
  | { readonly cmd: 'stats' }
  | { readonly cmd: 'close' };

type Client = net.Socket & {
  carry?: string;
  /** When this client started connecting. */
  openedAt?: number;
  /** When it last received a marked message. */
  lastMarkAt?: number;
};

const now = (): number => performance.timeOrigin + performance.now();
const MARK = '~t';
const PADDING = 'x'.repeat(60); // ~100-byte frames on the wire
let sockets: Client[] = [];
let received = 0;
let expected = Number.POSITIVE_INFINITY;
let latencies: number[] = [];
let lastReceiveAt = 0;
let cpuAtExpect = process.cpuUsage();
let expectAt = 0;

function onData(this: Client, chunk: Buffer): void {
  const text = this.carry === undefined ? chunk.toString('latin1') : this.carry + chunk.toString('latin1');
  this.carry = undefined;
  const at = now();
  let index = text.indexOf(MARK);
  while (index >= 0) {
    const stop = text.indexOf(',', index);
    if (stop < 0) {
      this.carry = text.slice(index);
      break;
    }
    latencies.push(at - Number(text.slice(index + MARK.length, stop)));
    received++;
    this.lastMarkAt = at;
    index = text.indexOf(MARK, stop);
  }
  if (this.carry === undefined && text.charCodeAt(text.length - 1) === 126 /* ~ */) this.carry = '~';
  lastReceiveAt = at;
  if (received >= expected) {
    expected = Number.POSITIVE_INFINITY;
    const cpu = process.cpuUsage(cpuAtExpect);
    process.send?.({ event: 'done', at: lastReceiveAt, received, cpuMs: (cpu.user + cpu.system) / 1000 });
  }
}

/** A masked WebSocket text frame (clients must mask), for the Socket.IO namespace connect. */
function wsText(text: string): Buffer {
  const payload = Buffer.from(text);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  // Mask key 0: the payload goes as is.
  payload.copy(frame, 6);
  return frame;
}

function openOne(command: Connect, i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const localAddress = command.sources[i % command.sources.length];
    const path = command.path.replace('{i}', String(i));
    const openedAt = now();
    const socket: Client = net.connect({ port: command.port, host: '127.0.0.1', localAddress }, () => {
      if (command.mode === 'socket.io') {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      } else {
        const resume = command.lastEventId === undefined ? '' : `Last-Event-ID: ${command.lastEventId}\r\n`;
        socket.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n${resume}\r\n`);
      }
    });
    socket.once('error', reject);
    let seen = '';
    let greeted = false;
    const first = (chunk: Buffer): void => {
      if (command.mode === 'sse') {
        // The first bytes (headers, greeting) mean the subscription is registered.
        socket.off('data', first);
        socket.on('data', onData);
        onData.call(socket, chunk);
        resolve();
        return;
      }
      // Socket.IO: 101 + engine.io open, then we join the default namespace; its ack means registered.
      seen += chunk.toString('latin1');
      if (!greeted && seen.includes('\r\n\r\n')) {
        greeted = true;
        socket.write(wsText('40'));
      }
      if (seen.includes('40{')) {
        socket.off('data', first);
        socket.on('data', onData);
        resolve();
      }
    };
    socket.openedAt = openedAt;
    socket.on('data', first);
    sockets.push(socket);
  });
}

/**
 * Opens `count` connections keeping `WINDOW` attempts in flight: a sliding window, so one slow connect
 * (a SYN retransmitted when the accept queue was full) holds back one slot, not a whole batch.
 */
const WINDOW = 250;

async function connect(command: Connect): Promise<number> {
  const deadline = Date.now() + 120_000;
  const first = command.first ?? 0;
  const end = first + command.count;
  const started = now();
  let failed = 0;
  let next = first;
  const worker = async (): Promise<void> => {
    while (next < end && Date.now() < deadline) {
      const i = next++;
      await openOne(command, i).catch(() => void failed++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, command.count) }, worker));
  if (failed > 0) process.stderr.write(`load generator: ${failed} connections failed\n`);
  return now() - started;
}

/** Per client that received marked messages since `expect`: from its connect to its last such message. */
function catchUpMs(): { p50: number; p99: number; max: number } {
  const spans: number[] = [];
  for (const socket of sockets) {
    if (socket.lastMarkAt !== undefined && socket.openedAt !== undefined && socket.lastMarkAt >= expectAt) {
      spans.push(socket.lastMarkAt - socket.openedAt);
    }
  }
  spans.sort((a, b) => a - b);
  const at = (q: number): number =>
    spans.length === 0
      ? Number.NaN
      : (spans[Math.min(spans.length - 1, Math.floor(q * spans.length))] as number);
  return {
    p50: at(0.5),
    p99: at(0.99),
    max: spans.length === 0 ? Number.NaN : (spans[spans.length - 1] as number),
  };
}

/** One kept-alive raw HTTP/1.1 publishing connection: one request in flight at a time. */
class Publisher {
  private readonly socket: net.Socket;
  private buffer = '';
  private waiting: ((body: string) => void) | null = null;
  private failing: ((error: Error) => void) | null = null;

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1' });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk) => {
      this.buffer += chunk.toString('latin1');
      this.parse();
    });
    this.socket.on('error', (error) => this.failing?.(error));
    this.socket.on('close', () => this.failing?.(new Error('publishing connection closed')));
  }

  send(path: string, body: string): Promise<string> {
    return new Promise((resolve, reject) => {
      // Bounded: an answer that never comes fails the run instead of hanging it.
      const timer = setTimeout(() => this.failing?.(new Error('publish: no answer within 10 s')), 10_000);
      this.waiting = (body) => {
        clearTimeout(timer);
        resolve(body);
      };
      this.failing = (error) => {
        clearTimeout(timer);
        this.waiting = null;
        this.failing = null;
        reject(error);
      };
      this.socket.write(
        `POST ${path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  close(): void {
    if (!this.socket.destroyed) this.socket.resetAndDestroy();
  }

  private parse(): void {
    const head = this.buffer.indexOf('\r\n\r\n');
    if (head < 0) return;
    const headers = this.buffer.slice(0, head).toLowerCase();
    let end: number;
    const length = /content-length: *(\d+)/.exec(headers);
    if (length !== null) end = head + 4 + Number(length[1]);
    else if (headers.includes('chunked')) {
      const last = this.buffer.indexOf('0\r\n\r\n', head);
      if (last < 0) return;
      end = last + 5;
    } else end = head + 4;
    if (this.buffer.length < end) return;
    const status = this.buffer.slice(9, 12);
    const body = this.buffer.slice(head + 4, end);
    this.buffer = this.buffer.slice(end);
    const done = this.waiting;
    const fail = this.failing;
    this.waiting = null;
    this.failing = null;
    if (status[0] === '2') done?.(body);
    else fail?.(new Error(`publish answered ${status}: ${body.slice(0, 200)}`));
  }
}

const data = (): string => `${MARK}${now()},${PADDING}`;

function request(command: Publish): { path: string; body: string } {
  const user = (): string => `u${Math.floor(Math.random() * command.users)}`;
  if (command.style === 'nchan') {
    return { path: `/pub?id=${command.pattern === 'all' ? 'all' : user()}`, body: data() };
  }
  if (command.pattern === 'all') return { path: '/messages', body: `{"to":{"all":true},"data":"${data()}"}` };
  if (command.pattern === 'user') {
    return { path: '/messages', body: `{"to":{"users":["${user()}"]},"data":"${data()}"}` };
  }
  const items: string[] = [];
  for (let i = 0; i < (command.batch ?? 100); i++) {
    items.push(`{"to":{"users":["${user()}"]},"data":"${data()}"}`);
  }
  return { path: '/messages', body: `[${items.join(',')}]` };
}

/** Sends `count` requests over `concurrency` connections, at `rate` per second (0: flat out), within the cap. */
async function publish(command: Publish): Promise<{ sent: number; ms: number; lastBody: string }> {
  const publishers = Array.from({ length: command.concurrency }, () => new Publisher(command.port));
  const started = now();
  const deadline = started + command.capMs;
  let next = 0;
  let sent = 0;
  let lastBody = '';
  const worker = async (publisher: Publisher): Promise<void> => {
    while (next < command.count && now() < deadline) {
      const i = next++;
      if (command.rate > 0) {
        // Keep to the schedule (no drift with response time): request i goes out at start + i / rate.
        const wait = started + (i * 1000) / command.rate - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      const { path, body } = request(command);
      lastBody = await publisher.send(path, body);
      sent++;
    }
  };
  try {
    await Promise.all(publishers.map(worker));
  } finally {
    for (const publisher of publishers) publisher.close();
  }
  return { sent, ms: now() - started, lastBody };
}

/**
 * Drops every subscriber with a reset rather than a FIN. A FIN leaves each client socket in TIME_WAIT for
 * a minute; tens of thousands of those make every later `bind()`/`connect()` of the next run search the
 * port space inside the syscall, which froze this process for up to a second at a time and capped every
 * server's connection rate at a few hundred per second (scenarios D and E, all servers alike).
 */
function dropAll(): void {
  for (const socket of sockets) if (!socket.destroyed) socket.resetAndDestroy();
  sockets = [];
}

process.on('message', async (command: Command) => {
  try {
    switch (command.cmd) {
      case 'connect': {
        const ms = await connect(command);
        process.send?.({ event: 'connected', count: sockets.length, ms });
        break;
      }
      case 'disconnect':
        dropAll();
        process.send?.({ event: 'disconnected' });
        break;
      case 'expect':
        received = 0;
        latencies = [];
        expected = command.total;
        cpuAtExpect = process.cpuUsage();
        expectAt = now();
        process.send?.({ event: 'expecting' });
        break;
      case 'publish':
        process.send?.({ event: 'published', ...(await publish(command)) });
        break;
      case 'stats': {
        const cpu = process.cpuUsage(cpuAtExpect);
        process.send?.({
          event: 'stats',
          received,
          latencies,
          lastReceiveAt,
          cpuMs: (cpu.user + cpu.system) / 1000,
          /** From `expect` to the last message received. */
          spanMs: lastReceiveAt - expectAt,
          catchUpMs: catchUpMs(),
        });
        break;
      }
      case 'close':
        dropAll();
        process.exit(0);
    }
  } catch (error) {
    process.send?.({ event: 'error', message: (error as Error).message });
  }
});
