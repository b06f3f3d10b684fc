/**
 * Scenario C: unicast to random users among the subscribers, flat out over a few kept-alive publishing
 * connections: publishes/s and publish-to-receive p50/p99. The batch variant sends `batch` messages per
 * request (for servers whose publish API takes one), reported as messages/s.
 */
import { quantile } from '../lib/stats.js';
import type { GeneratorStats } from './broadcast.js';
import type { Figures, ScenarioContext } from './context.js';
import { sleep } from './context.js';

export async function unicast(
  context: ScenarioContext,
  options: { requests: number; concurrency: number; batch: number; batchRequests: number },
): Promise<Figures> {
  const { kind, server, generator, subscribers } = context;
  const publish = { cmd: 'publish', port: server.port, style: kind.style, users: subscribers, rate: 0 };

  await generator.request({ cmd: 'expect', total: options.requests }, 'expecting');
  const finished = generator.done(40_000);
  const { sent, ms } = await generator.request<{ sent: number; ms: number }>(
    { ...publish, pattern: 'user', count: options.requests, concurrency: options.concurrency, capMs: 30_000 },
    'published',
  );
  await finished;
  const single = await generator.request<GeneratorStats>({ cmd: 'stats' }, 'stats');
  const figures: Figures = {
    'C unicast publishes/s': sent / (ms / 1000),
    'C unicast p50 ms': quantile(single.latencies, 0.5),
    'C unicast p99 ms': quantile(single.latencies, 0.99),
    'C batch messages/s': Number.NaN,
  };
  if (!kind.batch) return figures;
  await sleep(200);
  const total = options.batch * options.batchRequests;
  await generator.request({ cmd: 'expect', total }, 'expecting');
  const batched = generator.done(40_000);
  await generator.request(
    {
      ...publish,
      pattern: 'batch',
      batch: options.batch,
      count: options.batchRequests,
      concurrency: options.concurrency,
      capMs: 30_000,
    },
    'published',
  );
  await batched;
  const batch = await generator.request<GeneratorStats>({ cmd: 'stats' }, 'stats');
  // Messages delivered over the time to the last delivery (a request's answer may precede its deliveries).
  figures['C batch messages/s'] = batch.received / (batch.spanMs / 1000);
  return figures;
}
