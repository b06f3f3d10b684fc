/**
 * Scenario B: broadcast to N subscribers on one node.
 * - saturation: publish messages back to back; deliveries/s = N × messages / time to the last delivery;
 * - latency: publish at a fixed rate; publish-to-receive p50/p99 over every delivery.
 * Herald on core 0, the load generator (and the publisher) on core 1.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { startHeraldProcess, startLoadGenerator } from './lib/processes.js';
import { quantile } from './lib/stats.js';

export interface BroadcastResult {
  readonly subscribers: number;
  readonly deliveriesPerSecond: number;
  readonly latencyRate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rssPerConnectionKb: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const now = (): number => performance.timeOrigin + performance.now();

/** POSTs one broadcast carrying its send time (the receiver computes latency from it). */
function publish(port: number, padding: string): Promise<void> {
  const body = JSON.stringify({ to: { all: true }, data: `{"t":${now()},"p":"${padding}"}` });
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        port,
        host: '127.0.0.1',
        path: '/messages',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (response) => {
        response.resume();
        response.once('end', () =>
          response.statusCode === 202 ? resolve() : reject(new Error(`publish: ${response.statusCode}`)),
        );
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}

/** Runs the scenario once against a fresh node. */
export async function broadcast(options: {
  subscribers: number;
  saturationMessages: number;
  latencyRate: number;
  latencySeconds: number;
}): Promise<BroadcastResult> {
  const node = await startHeraldProcess(0);
  const generator = startLoadGenerator(1);
  try {
    const padding = 'x'.repeat(60); // ~100-byte messages on the wire
    const baseRss = node.rssKb();
    await generator.request(
      {
        cmd: 'connect',
        port: node.port,
        count: options.subscribers,
        path: '/events?user=u{i}',
        sources: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'],
      },
      'connected',
    );
    const rssPerConnectionKb = (node.rssKb() - baseRss) / options.subscribers;

    // Saturation: back-to-back publishes, timed from the first send to the last delivery.
    await generator.request(
      { cmd: 'expect', total: options.subscribers * options.saturationMessages },
      'expecting',
    );
    const finished = generator.done();
    const start = now();
    for (let i = 0; i < options.saturationMessages; i++) await publish(node.port, padding);
    const { at } = await Promise.race([finished, delay(60_000).then(() => ({ at: Number.NaN }))]);
    const deliveriesPerSecond = (options.subscribers * options.saturationMessages) / ((at - start) / 1000);

    // Latency at a fixed, sustainable rate.
    const count = Math.round(options.latencyRate * options.latencySeconds);
    await generator.request({ cmd: 'expect', total: options.subscribers * count }, 'expecting');
    const delivered = generator.done();
    const scheduleStart = now();
    for (let i = 0; i < count; i++) {
      // Keep to the schedule (no drift with publish time): publish i goes out at start + i / rate.
      const wait = scheduleStart + (i * 1000) / options.latencyRate - now();
      if (wait > 0) await delay(wait);
      await publish(node.port, padding);
    }
    await Promise.race([delivered, delay(30_000)]);
    const { latencies } = await generator.request<{ latencies: number[] }>({ cmd: 'stats' }, 'stats');
    return {
      subscribers: options.subscribers,
      deliveriesPerSecond,
      latencyRate: options.latencyRate,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      rssPerConnectionKb,
    };
  } finally {
    await generator.close();
    await node.stop();
    agent.destroy();
  }
}
