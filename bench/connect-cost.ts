/**
 * Server CPU per connection, the figure connect-rate work is judged by: one server at a time (Herald and
 * the bare `node:http` reference, alternating), pinned to core 0, the C load generator on core 1; each
 * round opens `BENCH_SUBSCRIBERS` connections (250 in flight) then drops them all, and the server's CPU
 * over each (`/proc`, 10 ms ticks) is divided by the connections. The first round warms the JIT and is
 * left out. CPU per connection holds still where connections/s moves with whatever else shares the core.
 *
 *   npm run build && node dist/bench/connect-cost.js [rounds]     # BENCH_ONLY=herald,node-http-ref
 *   BENCH_HERALD=/path/to/other/checkout/bin/herald.js node dist/bench/connect-cost.js   # another build
 */
import { buildNative } from './lib/native.js';
import { cpuTreeMs, startLoadGenerator } from './lib/processes.js';
import { SERVER_KINDS } from './lib/servers.js';
import type { Connected } from './scenarios/connect.js';
import { SOURCES, sleep } from './scenarios/context.js';

const rounds = Number(process.argv[2] ?? 4);
const count = Number(process.env.BENCH_SUBSCRIBERS ?? 10_000);
const only = (process.env.BENCH_ONLY ?? 'herald,node-http-ref').split(',');
const kinds = SERVER_KINDS.filter((kind) => only.includes(kind.name));

buildNative();
const generator = await startLoadGenerator(1);
const servers = await Promise.all(kinds.map((kind) => kind.start(0)));
const results = new Map<string, { cpuUs: number[]; closeUs: number[]; rate: number[] }>(
  kinds.map((kind) => [kind.name, { cpuUs: [], closeUs: [], rate: [] }]),
);
try {
  for (let round = 0; round <= rounds; round++) {
    for (const [index, kind] of kinds.entries()) {
      const server = servers[index] as (typeof servers)[number];
      const before = cpuTreeMs(server.pid);
      const connected = await generator.request<Connected>(
        { cmd: 'connect', port: server.port, count, mode: kind.mode, path: kind.path, sources: SOURCES },
        'connected',
      );
      const cpuMs = cpuTreeMs(server.pid) - before;
      const beforeClose = cpuTreeMs(server.pid);
      await generator.request({ cmd: 'disconnect' }, 'disconnected');
      await sleep(300);
      const closeMs = cpuTreeMs(server.pid) - beforeClose;
      if (round === 0) continue;
      const result = results.get(kind.name) as { cpuUs: number[]; closeUs: number[]; rate: number[] };
      result.cpuUs.push((cpuMs * 1000) / connected.registered);
      result.closeUs.push((closeMs * 1000) / connected.registered);
      result.rate.push(connected.registered / (connected.ms / 1000));
    }
  }
} finally {
  await generator.close();
  await Promise.all(servers.map((server) => server.stop()));
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] as number;
const list = (values: number[]): string => values.map((v) => v.toFixed(0)).join(' ');
for (const [name, { cpuUs, closeUs, rate }] of results) {
  console.log(
    `${name.padEnd(14)} server CPU µs per open: ${median(cpuUs).toFixed(1)} [${list(cpuUs)}], per close: ` +
      `${median(closeUs).toFixed(1)} [${list(closeUs)}]; connections/s: ${median(rate).toFixed(0)} [${list(rate)}]`,
  );
}
