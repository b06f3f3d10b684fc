/**
 * Scenario C: unicast to random users among the subscribers.
 * - one message per request: wrk with `concurrency` kept-alive connections flat out for `seconds` (after
 *   a one-second warm-up) → publishes/s, wrk's request latency p50/p99, and the subscribers' delivery
 *   latency p99. Without wrk, the load generator's own publishers take its place.
 * - batch: `batch` messages per request (servers whose publish API takes an array), `batchRequests`
 *   requests over the same number of connections → messages/s.
 * Beside each rate, the CPU of the generator side (load generator + wrk) and of the server.
 */
import { cpuTreeMs } from '../lib/processes.js';
import { runWrk, wrkUnavailable } from '../lib/wrk.js';
import { type Figures, generatorStats, percentOfCore, type ScenarioContext, sleep } from './context.js';

/** More than any run delivers: `expect` with it counts without signalling, until `target` names the total. */
const UNBOUNDED = 1e12;

export async function unicast(
  context: ScenarioContext,
  options: { seconds: number; concurrency: number; batch: number; batchRequests: number },
): Promise<Figures> {
  const figures: Figures = await singleMessages(context, options);
  if (!context.kind.batch) return { ...figures, 'C batch messages/s': Number.NaN };
  await sleep(200);
  const { kind, server, generator, subscribers } = context;
  const total = options.batch * options.batchRequests;
  await generator.request({ cmd: 'expect', total }, 'expecting');
  const serverCpu = cpuTreeMs(server.pid);
  const batched = generator.done(40_000);
  await generator.request(
    {
      cmd: 'publish',
      port: server.port,
      style: kind.style,
      users: subscribers,
      rate: 0,
      pattern: 'batch',
      batch: options.batch,
      count: options.batchRequests,
      concurrency: options.concurrency,
      capms: 30_000,
    },
    'published',
  );
  await batched;
  const serverCpuMs = cpuTreeMs(server.pid) - serverCpu;
  const stats = await generatorStats(generator);
  // Messages delivered over the time to the last delivery (a request's answer may precede its deliveries).
  return {
    ...figures,
    'C batch messages/s': stats.received / (stats.spanMs / 1000),
    'C batch generator CPU %': percentOfCore(stats.cpuMs, stats.spanMs),
    'C batch server CPU %': percentOfCore(serverCpuMs, stats.spanMs),
  };
}

async function singleMessages(
  context: ScenarioContext,
  options: { seconds: number; concurrency: number },
): Promise<Figures> {
  const { kind, server, generator, subscribers, generatorCore } = context;
  const wrk = (seconds: number) =>
    runWrk({
      core: generatorCore,
      port: server.port,
      connections: options.concurrency,
      seconds,
      users: subscribers,
      style: kind.style,
    });
  if (wrkUnavailable() !== undefined) return generatorPublishes(context, options);
  await wrk(1); // warm-up: the server's JIT and buffers, not measured
  await generator.request({ cmd: 'expect', total: UNBOUNDED }, 'expecting');
  const serverCpu = cpuTreeMs(server.pid);
  const run = await wrk(options.seconds);
  const serverCpuMs = cpuTreeMs(server.pid) - serverCpu;
  if (run.errors + run.status > 0) {
    throw new Error(`wrk: ${run.errors} socket errors, ${run.status} answers other than 2xx/3xx`);
  }
  const delivered = generator.done(10_000);
  await generator.request({ cmd: 'target', total: run.requests }, 'targeted');
  await delivered;
  const stats = await generatorStats(generator);
  return {
    'C unicast publishes/s': run.requests / (run.ms / 1000),
    'C unicast p50 ms': run.p50,
    'C unicast p99 ms': run.p99,
    'C unicast delivery p99 ms': stats.p99,
    'C unicast delivered %': Math.min(100, (100 * stats.received) / run.requests),
    'C generator CPU %': percentOfCore(run.cpuMs + stats.cpuMs, run.ms),
    'C server CPU %': percentOfCore(serverCpuMs, run.ms),
  };
}

/** Without wrk: the load generator publishes, one message per request, and measures delivery latency. */
async function generatorPublishes(
  context: ScenarioContext,
  options: { seconds: number; concurrency: number },
): Promise<Figures> {
  const { kind, server, generator, subscribers } = context;
  const count = 20_000;
  await generator.request({ cmd: 'expect', total: count }, 'expecting');
  const serverCpu = cpuTreeMs(server.pid);
  const finished = generator.done(40_000);
  const { sent, ms, cpuMs } = await generator.request<{ sent: number; ms: number; cpuMs: number }>(
    {
      cmd: 'publish',
      port: server.port,
      style: kind.style,
      users: subscribers,
      rate: 0,
      pattern: 'user',
      count,
      concurrency: options.concurrency,
      capms: options.seconds * 1000,
    },
    'published',
  );
  const serverCpuMs = cpuTreeMs(server.pid) - serverCpu;
  await finished;
  const stats = await generatorStats(generator);
  return {
    'C unicast publishes/s': sent / (ms / 1000),
    'C unicast p50 ms': stats.p50,
    'C unicast p99 ms': stats.p99,
    'C unicast delivery p99 ms': stats.p99,
    'C unicast delivered %': (100 * stats.received) / sent,
    'C generator CPU %': percentOfCore(cpuMs, ms),
    'C server CPU %': percentOfCore(serverCpuMs, ms),
  };
}
