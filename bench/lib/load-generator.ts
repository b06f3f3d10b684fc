/**
 * The subscriber side of the benchmarks, run as its own process (pinned to its own core): raw TCP
 * sockets, a hand-made HTTP request, and a minimal scan of the stream for message timestamps. Cheap
 * enough that it is not the bottleneck: no HTTP client, no SSE parser object per message.
 *
 * Controlled over IPC: `connect`, `expect`, `stats`, `close`.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

interface Connect {
  readonly cmd: 'connect';
  readonly port: number;
  readonly count: number;
  /** Request path of connection i; `{i}` is replaced by the index. */
  readonly path: string;
  /** Loopback source addresses to spread connections over (ports run short past ~28k per pair). */
  readonly sources: readonly string[];
}
type Command =
  | Connect
  | { readonly cmd: 'expect'; readonly total: number }
  | { readonly cmd: 'stats' }
  | { readonly cmd: 'close' };

const now = (): number => performance.timeOrigin + performance.now();
const sockets: net.Socket[] = [];
let received = 0;
let expected = Number.POSITIVE_INFINITY;
let latencies: number[] = [];
let lastReceiveAt = 0;
const MARK = '"t":';

function onData(this: net.Socket & { carry?: string }, chunk: Buffer): void {
  const text = (this.carry ?? '') + chunk.toString('latin1');
  const end = text.lastIndexOf('\n\n');
  if (end < 0) {
    this.carry = text;
    return;
  }
  this.carry = text.slice(end + 2);
  const at = now();
  let index = text.indexOf(MARK);
  while (index >= 0 && index < end) {
    const stop = text.indexOf(',', index);
    latencies.push(at - Number(text.slice(index + MARK.length, stop)));
    received++;
    index = text.indexOf(MARK, stop);
  }
  lastReceiveAt = at;
  if (received >= expected) {
    expected = Number.POSITIVE_INFINITY;
    process.send?.({ event: 'done', at: lastReceiveAt, received });
  }
}

async function connect(command: Connect): Promise<void> {
  const batch = 500;
  for (let start = 0; start < command.count; start += batch) {
    const opened: Promise<void>[] = [];
    for (let i = start; i < Math.min(command.count, start + batch); i++) {
      opened.push(
        new Promise((resolve, reject) => {
          const localAddress = command.sources[i % command.sources.length];
          const socket = net.connect({ port: command.port, host: '127.0.0.1', localAddress }, () => {
            socket.write(
              `GET ${command.path.replace('{i}', String(i))} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n`,
            );
          });
          socket.once('error', reject);
          // The first bytes (headers and the connected event) mean the subscription is registered.
          socket.once('data', () => {
            socket.on('data', onData);
            resolve();
          });
          sockets.push(socket);
        }),
      );
    }
    await Promise.all(opened);
  }
}

process.on('message', async (command: Command) => {
  switch (command.cmd) {
    case 'connect':
      await connect(command);
      process.send?.({ event: 'connected', count: sockets.length, rss: process.memoryUsage().rss });
      break;
    case 'expect':
      received = 0;
      latencies = [];
      expected = command.total;
      process.send?.({ event: 'expecting' });
      break;
    case 'stats':
      process.send?.({ event: 'stats', received, latencies, lastReceiveAt });
      break;
    case 'close':
      for (const socket of sockets) socket.destroy();
      process.exit(0);
  }
});
