/**
 * `npm run bench`: every scenario against Herald and its peers in one run, one table of medians with
 * ratios to Herald. Servers run pinned to core 0, the load generator (subscribers and publishers) to core 1.
 *
 * Environment:
 * - `BENCH_RUNS` (default 3): runs per server; the table shows medians.
 * - `BENCH_SUBSCRIBERS` (default 10000, at most 10000 per process).
 * - `BENCH_ONLY`: comma-separated server names and/or scenario letters, e.g. `herald,nchan,B,C`.
 * - `BENCH_MESSAGES` (default 50): broadcasts in the saturation phase of B and F.
 * - `BENCH_PROFILE=<dir>`: a V8 CPU profile and the standard output of each Herald node, in `<dir>`.
 * - `BENCH_NODE_FLAGS`: extra Node flags for the Herald nodes, e.g. `--trace-gc`.
 */
import { loadavg } from 'node:os';
import { startLoadGenerator } from './lib/processes.js';
import { ensureNchanInstalled, ensurePeersInstalled, rssTreeKb, SERVER_KINDS } from './lib/servers.js';
import { median, printTable } from './lib/stats.js';
import { broadcast } from './scenarios/broadcast.js';
import { connectSubscribers } from './scenarios/connect.js';
import type { Figures } from './scenarios/context.js';
import { crossNode } from './scenarios/cross-node.js';
import { replay } from './scenarios/replay.js';
import { unicast } from './scenarios/unicast.js';

const SERVER_CORE = 0;
const GENERATOR_CORE = 1;
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const subscribers = Math.min(10_000, Number(process.env.BENCH_SUBSCRIBERS ?? 10_000));
const messages = Number(process.env.BENCH_MESSAGES ?? 50);
const only = (process.env.BENCH_ONLY ?? '').split(',').filter((token) => token !== '');
const onlyScenarios = only.filter((token) => /^[A-F]$/.test(token));
const onlyServers = only.filter((token) => !/^[A-F]$/.test(token));
const wants = (scenario: string): boolean => onlyScenarios.length === 0 || onlyScenarios.includes(scenario);

const skipped: string[] = [];
const peerProblem = ensurePeersInstalled();
if (peerProblem !== undefined) skipped.push(peerProblem);
const nchanProblem = ensureNchanInstalled();
if (nchanProblem !== undefined) skipped.push(nchanProblem);

const kinds = SERVER_KINDS.filter((kind) => {
  if (onlyServers.length > 0 && !onlyServers.includes(kind.name)) return false;
  const reason = kind.unavailable();
  if (reason !== undefined) skipped.push(`${kind.name} skipped: ${reason}`);
  return reason === undefined;
});

/** results[server][metric] = one figure per run. */
const results = new Map<string, Map<string, number[]>>();
const record = (server: string, figures: Figures): void => {
  const byMetric = results.get(server) ?? new Map<string, number[]>();
  results.set(server, byMetric);
  for (const [metric, value] of Object.entries(figures)) {
    byMetric.set(metric, [...(byMetric.get(metric) ?? []), value]);
  }
};
const loads: number[] = [];
const note = (line: string): void => {
  loads.push(loadavg()[0] as number);
  process.stderr.write(`[load ${(loadavg()[0] as number).toFixed(2)}] ${line}\n`);
};

for (let run = 1; run <= runs; run++) {
  for (const kind of kinds) {
    note(`run ${run}/${runs}: ${kind.name} with ${subscribers} subscribers`);
    const server = await kind.start(SERVER_CORE);
    const generator = startLoadGenerator(GENERATOR_CORE);
    const context = { kind, server, generator, subscribers };
    try {
      record(kind.name, await connectSubscribers(context));
      if (wants('B')) record(kind.name, await broadcast(context, { messages, rate: 5, seconds: 10 }));
      if (wants('C')) {
        record(
          kind.name,
          await unicast(context, { requests: 20_000, concurrency: 8, batch: 100, batchRequests: 500 }),
        );
      }
      if (wants('E') && kind.name === 'herald') record(kind.name, await replay(context, { missed: 10 }));
      record(kind.name, { 'RSS MiB at the end': rssTreeKb(server.pid) / 1024 });
    } catch (error) {
      note(`${kind.name} run ${run} failed: ${(error as Error).message}`);
    } finally {
      await generator.close();
      await server.stop();
    }
  }
  if (wants('F') && (onlyServers.length === 0 || onlyServers.includes('herald'))) {
    note(`run ${run}/${runs}: F, two Herald nodes on Redis`);
    const generator = startLoadGenerator(GENERATOR_CORE);
    try {
      const figures = await crossNode(generator, SERVER_CORE, {
        subscribers,
        messages,
        rate: 5,
        seconds: 10,
      });
      if (figures !== undefined) record('herald', figures);
    } catch (error) {
      note(`F run ${run} failed: ${(error as Error).message}`);
    } finally {
      await generator.close();
    }
  }
}
note('done');

// One table: a row per metric, a column per server, each cell the median and its ratio to Herald.
const servers = [...results.keys()];
const metrics = [...new Set(servers.flatMap((server) => [...(results.get(server)?.keys() ?? [])]))];
const medianOf = (server: string, metric: string): number => {
  const values = (results.get(server)?.get(metric) ?? []).filter((v) => !Number.isNaN(v));
  return values.length === 0 ? Number.NaN : median(values);
};
const format = (value: number): string =>
  Number.isNaN(value)
    ? 'n/a'
    : Math.abs(value) >= 100
      ? String(Math.round(value))
      : value.toFixed(Math.abs(value) >= 10 ? 1 : 2);
const rows = metrics.map((metric) => {
  const row: Record<string, string> = { metric };
  const mine = medianOf('herald', metric);
  for (const server of servers) {
    const value = medianOf(server, metric);
    const ratio =
      server === 'herald' || Number.isNaN(value) || Number.isNaN(mine)
        ? ''
        : ` (${(value / mine).toFixed(2)}×)`;
    row[server] = `${format(value)}${ratio}`;
  }
  return row;
});
const loadRange = `${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`;
printTable(
  `${subscribers} subscribers, ~100-byte messages, median of ${runs} run(s); (×) = peer / Herald; 1-min load average during the run ${loadRange}`,
  rows,
);
for (const line of skipped) console.log(`- ${line}`);
