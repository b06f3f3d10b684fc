/**
 * Scenario B: broadcast to every subscriber.
 * - saturation: `messages` publishes back to back (each waits for its answer); deliveries/s is the
 *   deliveries over the time from the first publish to the last delivery. The load generator's CPU use
 *   over that time shows whether it, not the server, was the bound.
 * - latency: publishes at a fixed rate; publish-to-receive p50/p99 over every delivery.
 */
import { quantile } from '../lib/stats.js';
import { broadcastCommand, type Figures, type ScenarioContext } from './context.js';

/** What the load generator's `stats` answers. */
export interface GeneratorStats {
  readonly received: number;
  readonly latencies: number[];
  readonly spanMs: number;
  readonly cpuMs: number;
}

/** What `measureBroadcast` found: the saturation phase's figures and every delivery's latency. */
export interface BroadcastRun {
  readonly saturation: GeneratorStats;
  readonly cpuMs: number;
  readonly expected: number;
  readonly latencies: readonly number[];
}

/**
 * The two phases of a broadcast measurement, shared by B (one server) and F (two nodes): `messages`
 * back to back, then `rate` publishes/s for `seconds`. `publish` is the generator's publish command.
 */
export async function measureBroadcast(
  generator: ScenarioContext['generator'],
  publish: Readonly<Record<string, unknown>>,
  subscribers: number,
  options: { messages: number; rate: number; seconds: number },
): Promise<BroadcastRun> {
  const expected = subscribers * options.messages;
  await generator.request({ cmd: 'expect', total: expected }, 'expecting');
  const finished = generator.done(90_000);
  await generator.request(
    { ...publish, count: options.messages, rate: 0, concurrency: 1, capMs: 60_000 },
    'published',
  );
  const done = await finished;
  const saturation = await generator.request<GeneratorStats>({ cmd: 'stats' }, 'stats');

  const count = Math.round(options.rate * options.seconds);
  await generator.request({ cmd: 'expect', total: subscribers * count }, 'expecting');
  const delivered = generator.done((options.seconds + 20) * 1000);
  await generator.request(
    { ...publish, count, rate: options.rate, concurrency: 1, capMs: (options.seconds + 10) * 1000 },
    'published',
  );
  await delivered;
  const { latencies } = await generator.request<GeneratorStats>({ cmd: 'stats' }, 'stats');
  return { saturation, cpuMs: done?.cpuMs ?? saturation.cpuMs, expected, latencies };
}

export async function broadcast(
  context: ScenarioContext,
  options: { messages: number; rate: number; seconds: number },
): Promise<Figures> {
  const { generator, subscribers } = context;
  const publish = broadcastCommand(context);
  const { saturation, cpuMs, expected, latencies } = await measureBroadcast(
    generator,
    publish,
    subscribers,
    options,
  );
  return {
    'B deliveries/s (saturation)': saturation.received / (saturation.spanMs / 1000),
    'B delivered % (saturation)': (100 * saturation.received) / expected,
    'B load generator CPU %': (100 * cpuMs) / saturation.spanMs,
    [`B p50 ms @${options.rate}/s`]: quantile(latencies, 0.5),
    [`B p99 ms @${options.rate}/s`]: quantile(latencies, 0.99),
  };
}
