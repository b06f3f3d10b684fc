/**
 * Cross-node delivery: publish on node A, 10 000 subscribers spread over nodes A and B on Redis, beside the
 * same load on one node with the in-memory log. Nodes run as child processes (so this process holds only
 * the client sockets); all traffic is on loopback.
 * Run: `npm run build && node dist/bench/cross-node.js [subscribers] [messages]`.
 */
import http from 'node:http';
import { type HeraldProcess, spawnHerald } from '../test/helpers/process.js';
import { type RedisServer, redisSkip, startRedis } from '../test/helpers/redis.js';

const SUBSCRIBERS = Math.min(Number(process.argv[2] ?? 10_000), 10_000);
const MESSAGES = Number(process.argv[3] ?? 50);
/** Pause between publishes, so latency is measured below saturation. */
const INTERVAL_MS = 20;
const TIME_CAP_MS = 60_000;

interface Result {
  setup: string;
  deliveries: number;
  seconds: number;
  latencies: Float64Array;
}

/** Opens `count` SSE streams spread round-robin over `urls`; counts events and records latency per delivery. */
async function subscribe(urls: string[], count: number, sentAt: Float64Array, latencies: number[]) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const requests: http.ClientRequest[] = [];
  let delivered = 0;
  let waiting: (() => void) | null = null;
  const open = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const url = `${urls[i % urls.length]}/events?user=u${i}`;
      const request = http.get(url, { agent, headers: { accept: 'text/event-stream' } }, (response) => {
        response.setEncoding('latin1');
        let rest = '';
        response.on('data', (chunk: string) => {
          const now = performance.now();
          const text = rest + chunk;
          let at = text.indexOf('data: ');
          let consumed = 0;
          while (at >= 0) {
            const end = text.indexOf('\n', at);
            if (end < 0) break;
            const value = text.slice(at + 6, end);
            consumed = end + 1;
            const code = value.charCodeAt(0);
            if (code >= 48 && code <= 57) {
              latencies.push(now - (sentAt[Number(value)] as number));
              delivered++;
            }
            at = text.indexOf('data: ', consumed);
          }
          rest = text.slice(consumed);
          if (waiting !== null) waiting();
        });
        resolve();
      });
      request.on('error', reject);
      requests.push(request);
    });
  for (let i = 0; i < count; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, j) => open(i + j)));
  }
  return {
    get delivered() {
      return delivered;
    },
    async until(total: number, deadline: number): Promise<void> {
      while (delivered < total && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          waiting = resolve;
          setTimeout(resolve, 100);
        });
        waiting = null;
      }
    },
    close() {
      for (const request of requests) request.destroy();
    },
  };
}

async function waitForPresence(url: string, connections: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const summary = (await (await fetch(`${url}/presence`)).json()) as { connections: number };
    if (summary.connections >= connections) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`only part of the ${connections} subscribers connected`);
}

async function run(setup: string, urls: string[], publishUrl: string): Promise<Result> {
  const sentAt = new Float64Array(MESSAGES);
  const latencies: number[] = [];
  const subscribers = await subscribe(urls, SUBSCRIBERS, sentAt, latencies);
  await waitForPresence(publishUrl, SUBSCRIBERS);
  const started = performance.now();
  const deadline = Date.now() + TIME_CAP_MS;
  for (let i = 0; i < MESSAGES && Date.now() < deadline; i++) {
    sentAt[i] = performance.now();
    const response = await fetch(`${publishUrl}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: { all: true }, data: i }),
    });
    if (response.status !== 202) throw new Error(`publish answered ${response.status}`);
    await response.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
  await subscribers.until(MESSAGES * SUBSCRIBERS, deadline);
  const seconds = (performance.now() - started) / 1000;
  subscribers.close();
  return {
    setup,
    deliveries: subscribers.delivered,
    seconds,
    latencies: Float64Array.from(latencies).sort(),
  };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number);
}

async function main(): Promise<void> {
  if (redisSkip !== false) {
    console.log(`cross-node bench skipped: ${redisSkip}`);
    return;
  }
  const results: Result[] = [];
  const processes: HeraldProcess[] = [];
  let redis: RedisServer | undefined;
  try {
    const single = await spawnHerald(['--log', 'memory']);
    processes.push(single);
    results.push(await run('1 node, memory log', [single.url], single.url));
    await single.kill();

    redis = await startRedis();
    const args = ['--log', redis.url];
    const a = await spawnHerald(args);
    const b = await spawnHerald(args);
    processes.push(a, b);
    results.push(await run('2 nodes on Redis, publish on A', [a.url, b.url], a.url));
  } finally {
    for (const node of processes) await node.kill().catch(() => {});
    await redis?.stop();
  }
  console.log(
    `Fan-out: ${SUBSCRIBERS} subscribers, ${MESSAGES} messages to all, one every ${INTERVAL_MS} ms (latency: publish start → received)`,
  );
  console.log(
    `${'setup'.padEnd(34)} ${'deliveries'.padStart(10)} ${'deliv/s'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}`,
  );
  for (const r of results) {
    console.log(
      `${r.setup.padEnd(34)} ${String(r.deliveries).padStart(10)} ${String(Math.round(r.deliveries / r.seconds)).padStart(9)} ${percentile(r.latencies, 0.5).toFixed(1).padStart(7)} ${percentile(r.latencies, 0.99).toFixed(1).padStart(7)}`,
    );
  }
}

await main();
