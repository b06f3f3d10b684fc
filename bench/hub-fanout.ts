import { MemoryLog } from '../src/backends/memory/log.js';
import { Hub } from '../src/core/hub.js';
import type { Message } from '../src/core/message.js';
import { type Sink, Subscription } from '../src/core/subscription.js';
import { sseEncoder } from '../src/transport/sse-encoder.js';

/**
 * Fan-out micro-benchmark of the hub alone: N subscriptions with in-memory sinks, then messages to `all`
 * (every subscription) and to one user, each timed from `deliver` through the coalesced flush.
 * Run: `npm run build && node dist/bench/hub-fanout.js [subscriptions] [messages]`.
 */

class CountingSink implements Sink {
  bytes = 0;
  writes = 0;
  readonly bufferedBytes = 0;
  write(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.writes++;
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  end(): void {}
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function main(): Promise<void> {
  const subscriptions = Number(process.argv[2] ?? 10_000);
  const messages = Number(process.argv[3] ?? 300);
  const log = new MemoryLog({ historySize: 1000, historyAgeMs: 3_600_000 });
  const hub = new Hub(log, await log.head(), { maxBufferedBytes: 1 << 20 });
  const sinks: CountingSink[] = [];
  const greeting = (): Buffer => Buffer.from(': hi\n\n');
  for (let i = 0; i < subscriptions; i++) {
    const sink = new CountingSink();
    sinks.push(sink);
    const sub = new Subscription(`c${i}`, `user${i}`, i % 10 === 0 ? ['tenth'] : [], sink, sseEncoder, {
      transport: 'bench',
      remoteAddress: '127.0.0.1',
    });
    await hub.attach(sub, undefined, greeting);
  }
  await tick();
  const data = JSON.stringify({ text: 'x'.repeat(100) });
  let seq = 0;
  const message = (topics: string[]): Message => {
    seq++;
    return { id: `0-${seq}`, pos: `0-${seq}`, topics, data, ts: Date.now() };
  };

  const run = async (name: string, topics: string[], count: number, recipients: number): Promise<void> => {
    // Warm up the JIT on the same shape before timing.
    for (let i = 0; i < Math.min(50, count); i++) {
      hub.deliver(message(topics));
      await tick();
    }
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = process.hrtime.bigint();
      hub.deliver(message(topics));
      await tick();
      samples.push(Number(process.hrtime.bigint() - start) / 1e3);
    }
    samples.sort((a, b) => a - b);
    const median = samples[Math.floor(samples.length / 2)] as number;
    const p90 = samples[Math.floor(samples.length * 0.9)] as number;
    const perSecond = (recipients / median) * 1e6;
    console.log(
      `${name.padEnd(22)} ${String(recipients).padStart(6)} recipients  median ${median.toFixed(0).padStart(6)} µs  p90 ${p90.toFixed(0).padStart(6)} µs  ${(perSecond / 1e6).toFixed(2)} M deliveries/s`,
    );
  };

  console.log(
    `hub fan-out, ${subscriptions} subscriptions, ${messages} messages per scenario, node ${process.version}`,
  );
  await run('all', ['all'], messages, subscriptions);
  await run('group (10%)', ['group:tenth'], messages, Math.ceil(subscriptions / 10));
  await run('one user', ['user:user7'], messages * 10, 1);
  const bytes = sinks.reduce((sum, s) => sum + s.bytes, 0);
  console.log(`delivered ${hub.counters.delivered}, ${(bytes / 1e6).toFixed(1)} MB written`);
}

await main();
