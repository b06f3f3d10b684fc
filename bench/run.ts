/**
 * `npm run bench`: every scenario against Herald, the references and the peers in one run, one table of
 * medians with ratios to the C epoll reference, and Herald's ratios to each reference. Servers run pinned
 * to core 0; the load generator (C, `bench/native/`), wrk and the SDK's callers to core 1.
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
import { buildNative } from './lib/native.js';
import { startLoadGenerator } from './lib/processes.js';
import {
  C_REFERENCE,
  ensureNchanInstalled,
  ensurePeersInstalled,
  NODE_HTTP_REFERENCE,
  rssTreeKb,
  SERVER_KINDS,
} from './lib/servers.js';
import { median, printTable } from './lib/stats.js';
import { broadcast } from './scenarios/broadcast.js';
import { connectSubscribers } from './scenarios/connect.js';
import type { Figures } from './scenarios/context.js';
import { crossNode } from './scenarios/cross-node.js';
import { replay } from './scenarios/replay.js';
import { sdkPublish } from './scenarios/sdk-publish.js';
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

// The load generator and the C reference are built first: without them nothing is measured.
buildNative();
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
    const generator = await startLoadGenerator(GENERATOR_CORE);
    const context = { kind, server, generator, subscribers, generatorCore: GENERATOR_CORE };
    try {
      record(kind.name, await connectSubscribers(context));
      if (wants('B')) record(kind.name, await broadcast(context, { messages, rate: 5, seconds: 10 }));
      if (wants('C')) {
        record(
          kind.name,
          await unicast(context, { seconds: 5, concurrency: 16, batch: 100, batchRequests: 500 }),
        );
        if (kind.name === 'herald') {
          const sdk = { callers: 16, seconds: 5, protocol: 'http1', lingerMs: 1 } as const;
          record(kind.name, await sdkPublish(context, sdk));
        }
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
    const generator = await startLoadGenerator(GENERATOR_CORE);
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

// One table: a row per metric, a column per server, each cell the median and its ratio to the C
// reference; then Herald's ratio to each reference.
const servers = [...results.keys()];
/** Rows by scenario, in the order they run, whichever server first reported them. */
const ROW_ORDER = [
  'A ',
  'D ',
  'B ',
  'C unicast',
  'C generator',
  'C server',
  'C batch',
  'C SDK',
  'E ',
  'F ',
  'RSS',
];
const rank = (metric: string): number => {
  const index = ROW_ORDER.findIndex((prefix) => metric.startsWith(prefix));
  return index < 0 ? ROW_ORDER.length : index;
};
const metrics = [...new Set(servers.flatMap((server) => [...(results.get(server)?.keys() ?? [])]))].sort(
  (a, b) => rank(a) - rank(b),
);
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
/** CPU and percentage rows are read as they are: a ratio of them means nothing. */
const hasRatio = (metric: string): boolean => !metric.includes('%');
/**
 * Memory figures are the process's resident memory: the kernel's socket buffers are not in it, and a C
 * server keeps almost nothing else, so a ratio to the C reference means nothing either.
 */
const comparable = (reference: string, metric: string): boolean =>
  hasRatio(metric) && !(reference === C_REFERENCE && /^(A |RSS)/.test(metric));
/** The generator's CPU row that vouches for a figure (same scenario, same phase). */
const generatorCpuOf = (metric: string): string | undefined => {
  const phase = /^(C batch|C SDK|[A-F])\b/.exec(metric)?.[1];
  const row = phase === undefined ? undefined : `${phase} generator CPU %`;
  return row !== undefined && metrics.includes(row) && row !== metric ? row : undefined;
};
/** Whether the generator was near its core's limit while measuring: then the figure may be its own. */
const BOUND_PERCENT = 90;
const generatorBound = (server: string, metric: string): boolean => {
  const row = generatorCpuOf(metric);
  return row !== undefined && medianOf(server, row) >= BOUND_PERCENT;
};
const ratio = (value: number, reference: number): string =>
  Number.isNaN(value) || Number.isNaN(reference) || reference === 0
    ? ''
    : `${(value / reference).toFixed(2)}×`;
const rows = metrics.map((metric) => {
  const row: Record<string, string> = { metric };
  const reference = medianOf(C_REFERENCE, metric);
  for (const server of servers) {
    const value = medianOf(server, metric);
    const share = server === C_REFERENCE || !comparable(C_REFERENCE, metric) ? '' : ratio(value, reference);
    const bound = generatorBound(server, metric) ? ' (!)' : '';
    row[server] = `${format(value)}${share === '' ? '' : ` (${share})`}${bound}`;
  }
  return row;
});
const loadRange = `${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`;
printTable(
  `${subscribers} subscribers, ~100-byte messages, median of ${runs} run(s); (×) = server / ${C_REFERENCE}; (!) = the generator used ≥ ${BOUND_PERCENT}% of its core, the figure may be the generator's; 1-min load average during the run ${loadRange}`,
  rows,
);
if (results.has('herald')) {
  const references = [C_REFERENCE, NODE_HTTP_REFERENCE, 'nchan'].filter((name) => results.has(name));
  // What Herald's own rows are set against where the references have no such row.
  const counterpart: Record<string, string> = {
    'C SDK messages/s': 'C unicast publishes/s',
    'C SDK p99 ms': 'C unicast p99 ms',
    'C SDK delivery p99 ms': 'C unicast delivery p99 ms',
    'E reconnects/s': 'D connections/s',
  };
  const versus = metrics.filter(hasRatio).map((metric) => {
    const row: Record<string, string> = { metric, herald: format(medianOf('herald', metric)) };
    const theirs = counterpart[metric] ?? metric;
    for (const reference of references) {
      const value = comparable(reference, metric)
        ? ratio(medianOf('herald', metric), medianOf(reference, theirs))
        : '';
      row[`herald / ${reference}`] = value || 'n/a';
    }
    return row;
  });
  const against = Object.entries(counterpart).map(([mine, theirs]) => `${mine} against their ${theirs}`);
  printTable(
    `Herald against the references (a rate: above 1 is better for Herald; a size or latency: below); ${against.join(', ')}`,
    versus,
  );
}
for (const line of skipped) console.log(`- ${line}`);
