/**
 * Scenario E: every subscriber drops, `missed` messages are published to all, and every subscriber
 * reconnects with `Last-Event-ID`; the figure is the time from the first reconnect to the last missed
 * message received, and per client from its own reconnect to its last missed message (p50/p99), which
 * leaves out the time spent waiting for the connect window. The log is full (history-size messages) by
 * then, so a replay that scanned the log would show here. Only servers with history and resume take part.
 */
import type { Connected } from './connect.js';
import {
  broadcastCommand,
  type Figures,
  generatorStats,
  percentOfCore,
  type ScenarioContext,
  SOURCES,
} from './context.js';

export async function replay(context: ScenarioContext, options: { missed: number }): Promise<Figures> {
  const { kind, server, generator, subscribers } = context;
  const publish = broadcastCommand(context);
  await generator.request({ cmd: 'expect', total: subscribers }, 'expecting');
  const seen = generator.done(30_000);
  const { lastBody } = await generator.request<{ lastBody: string }>(
    { ...publish, count: 1, rate: 0, concurrency: 1, capms: 10_000 },
    'published',
  );
  await seen;
  const lastEventId = (JSON.parse(lastBody) as { id: string }).id;
  await generator.request({ cmd: 'disconnect' }, 'disconnected');
  await generator.request(
    { ...publish, count: options.missed, rate: 0, concurrency: 1, capms: 10_000 },
    'published',
  );
  const expected = subscribers * options.missed;
  await generator.request({ cmd: 'expect', total: expected }, 'expecting');
  const caughtUp = generator.done(60_000);
  const connected = await generator.request<Connected>(
    {
      cmd: 'connect',
      port: server.port,
      count: subscribers,
      mode: kind.mode,
      path: kind.path,
      last: lastEventId,
      sources: SOURCES,
    },
    'connected',
  );
  const done = await caughtUp;
  const stats = await generatorStats(generator);
  return {
    'E replay catch-up s': done === null ? Number.NaN : stats.spanMs / 1000,
    // Each client from its own reconnect to its last missed message: replay without the connect queue.
    'E per-client catch-up p50 ms': stats.catchUp.p50,
    'E per-client catch-up p99 ms': stats.catchUp.p99,
    'E replayed %': (100 * stats.received) / expected,
    'E generator CPU %': percentOfCore(stats.cpuMs, stats.spanMs),
    'E reconnects/s': connected.registered / (connected.ms / 1000),
  };
}
