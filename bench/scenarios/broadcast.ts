/**
 * Scenario B: broadcast to every subscriber.
 * - saturation: `messages` publishes back to back (each waits for its answer); deliveries/s is the
 *   deliveries over the time from the first publish to the last delivery. The generator's and the
 *   server's CPU over that time show which of the two was the bound.
 * - latency: publishes at a fixed rate; publish-to-receive p50/p99 over every delivery.
 */
import { cpuTreeMs, type LoadGenerator } from '../lib/processes.js';
import {
  broadcastCommand,
  type Figures,
  type GeneratorStats,
  generatorStats,
  percentOfCore,
  type ScenarioContext,
} from './context.js';

/** What `measureBroadcast` found: the saturation phase, and the fixed-rate phase's latencies. */
export interface BroadcastRun {
  readonly saturation: GeneratorStats;
  /** The generator's CPU from the first publish to the last delivery, ms. */
  readonly cpuMs: number;
  /** The servers' CPU over the saturation phase, ms. */
  readonly serverCpuMs: number;
  readonly expected: number;
  readonly latency: GeneratorStats;
}

/**
 * The two phases of a broadcast measurement, shared by B (one server) and F (two nodes): `messages`
 * back to back, then `rate` publishes/s for `seconds`. `publish` is the generator's publish command;
 * `serverPids` the processes whose CPU is reported.
 */
export async function measureBroadcast(
  generator: LoadGenerator,
  publish: ReturnType<typeof broadcastCommand>,
  subscribers: number,
  serverPids: readonly number[],
  options: { messages: number; rate: number; seconds: number },
): Promise<BroadcastRun> {
  const expected = subscribers * options.messages;
  const serverCpu = (): number => serverPids.reduce((sum, pid) => sum + cpuTreeMs(pid), 0);
  await generator.request({ cmd: 'expect', total: expected }, 'expecting');
  const cpuBefore = serverCpu();
  const finished = generator.done(90_000);
  await generator.request(
    { ...publish, count: options.messages, rate: 0, concurrency: 1, capms: 60_000 },
    'published',
  );
  const done = await finished;
  const serverCpuMs = serverCpu() - cpuBefore;
  const saturation = await generatorStats(generator);

  const count = Math.round(options.rate * options.seconds);
  await generator.request({ cmd: 'expect', total: subscribers * count }, 'expecting');
  const delivered = generator.done((options.seconds + 20) * 1000);
  await generator.request(
    { ...publish, count, rate: options.rate, concurrency: 1, capms: (options.seconds + 10) * 1000 },
    'published',
  );
  await delivered;
  const latency = await generatorStats(generator);
  return { saturation, cpuMs: done?.cpuMs ?? saturation.cpuMs, serverCpuMs, expected, latency };
}

export async function broadcast(
  context: ScenarioContext,
  options: { messages: number; rate: number; seconds: number },
): Promise<Figures> {
  const { generator, subscribers, server } = context;
  const run = await measureBroadcast(
    generator,
    broadcastCommand(context),
    subscribers,
    [server.pid],
    options,
  );
  const { saturation, latency } = run;
  return {
    'B deliveries/s (saturation)': saturation.received / (saturation.spanMs / 1000),
    'B delivered % (saturation)': (100 * saturation.received) / run.expected,
    'B generator CPU %': percentOfCore(run.cpuMs, saturation.spanMs),
    'B server CPU %': percentOfCore(run.serverCpuMs, saturation.spanMs),
    [`B p50 ms @${options.rate}/s`]: latency.p50,
    [`B p99 ms @${options.rate}/s`]: latency.p99,
  };
}
