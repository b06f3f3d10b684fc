/**
 * The SDK's side of scenario C: `callers` concurrent callers, each publishing one message to a random
 * user and awaiting it before the next, through one `Publisher` (src/publisher). Run as its own process,
 * pinned beside the load generator: `node sdk-callers.js '<json options>'`. It warms up for a second,
 * prints `{"event":"warm"}`, waits for a line on stdin, publishes for `seconds`, and prints its figures
 * (call-to-resolve latency, its CPU) as one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { Publisher } from '../../src/publisher/index.js';
import { quantile } from './stats.js';

interface Options {
  readonly port: number;
  readonly callers: number;
  readonly seconds: number;
  readonly users: number;
  readonly protocol: 'http1' | 'http2';
  readonly lingerMs: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const PADDING = 'x'.repeat(60);
const now = (): number => performance.timeOrigin + performance.now();
const publisher = new Publisher({
  url: `http://127.0.0.1:${options.port}`,
  protocol: options.protocol,
  lingerMs: options.lingerMs,
});

/** Runs the callers until `until` (ms, `now()` clock); returns every call's latency. */
async function callers(until: number): Promise<number[]> {
  const latencies: number[] = [];
  const caller = async (): Promise<void> => {
    while (now() < until) {
      const user = `u${Math.floor(Math.random() * options.users)}`;
      const sent = now();
      await publisher.publish({ to: { users: [user] }, data: `~t${sent},${PADDING}` });
      latencies.push(now() - sent);
    }
  };
  await Promise.all(Array.from({ length: options.callers }, caller));
  return latencies;
}

await callers(now() + 1000);
process.stdout.write('{"event":"warm"}\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const cpu = process.cpuUsage();
const started = now();
const latencies = await callers(started + options.seconds * 1000);
const ms = now() - started;
const used = process.cpuUsage(cpu);
await publisher.close();
process.stdout.write(
  `${JSON.stringify({
    event: 'result',
    messages: latencies.length,
    ms,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuMs: (used.user + used.system) / 1000,
  })}\n`,
);
process.exit(0);
