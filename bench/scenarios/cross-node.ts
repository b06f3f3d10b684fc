/**
 * Scenario F: two Herald nodes on the Redis log (both on the server core, Redis too), subscribers split
 * between them, every publish sent to node A: broadcast deliveries/s at saturation and p50/p99 at a fixed
 * rate, measured exactly as scenario B.
 */
import { redisSkip, startRedis } from '../../test/helpers/redis.js';
import { type LoadGenerator, startHeraldProcess } from '../lib/processes.js';
import { measureBroadcast } from './broadcast.js';
import { type Figures, percentOfCore, SOURCES } from './context.js';

/** Runs F once; returns undefined with the reason printed when Redis is not available. */
export async function crossNode(
  generator: LoadGenerator,
  serverCore: number,
  options: { subscribers: number; messages: number; rate: number; seconds: number },
): Promise<Figures | undefined> {
  if (redisSkip !== false) {
    process.stderr.write(`F skipped: ${redisSkip}\n`);
    return undefined;
  }
  const redis = await startRedis();
  const nodes: Awaited<ReturnType<typeof startHeraldProcess>>[] = [];
  try {
    for (let i = 0; i < 2; i++) nodes.push(await startHeraldProcess(serverCore, ['--log', redis.url]));
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const half = Math.floor(options.subscribers / 2);
    const path = '/events?user=u{i}';
    await generator.request(
      { cmd: 'connect', port: a.port, count: half, mode: 'sse', path, sources: SOURCES },
      'connected',
    );
    await generator.request(
      {
        cmd: 'connect',
        port: b.port,
        first: half,
        count: options.subscribers - half,
        mode: 'sse',
        path,
        sources: SOURCES,
      },
      'connected',
    );
    const publish = {
      cmd: 'publish',
      port: a.port,
      style: 'herald',
      pattern: 'all',
      users: options.subscribers,
    } as const;
    const pids = [a.pid, b.pid, redis.pid];
    const run = await measureBroadcast(generator, publish, options.subscribers, pids, options);
    await generator.request({ cmd: 'disconnect' }, 'disconnected');
    return {
      'F 2 nodes/Redis deliveries/s': run.saturation.received / (run.saturation.spanMs / 1000),
      'F generator CPU %': percentOfCore(run.cpuMs, run.saturation.spanMs),
      'F servers CPU % (2 nodes + Redis)': percentOfCore(run.serverCpuMs, run.saturation.spanMs),
      [`F 2 nodes/Redis p99 ms @${options.rate}/s`]: run.latency.p99,
    };
  } finally {
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
}
