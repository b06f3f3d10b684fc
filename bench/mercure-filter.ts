import { MemoryLog } from '../src/backends/memory/log.js';
import { Hub } from '../src/core/hub.js';
import { type Sink, Subscription } from '../src/core/subscription.js';
import { TopicMatchers } from '../src/mercure/topic-matcher.js';
import { draftOf, MercureFilter, mercureEncoder, PUBLIC_GROUP } from '../src/mercure/updates.js';
import { sseEncoder } from '../src/transport/sse-encoder.js';

/**
 * What Mercure's per-connection filter costs on the delivery path, the hub alone (no HTTP): N Mercure
 * subscriptions in the `#mercure` group, each with a `MercureFilter`, against N plain subscriptions
 * reached through `all`. Three Mercure cases: every subscription with the same URL pattern (one compiled
 * matcher, evaluated once per message), each with its own exact topic (N comparisons per message, one
 * match), each with its own URL pattern. Each message timed from `deliver` through the coalesced flush.
 * Run: `npm run build && node dist/bench/mercure-filter.js [subscriptions] [messages]`.
 */

class CountingSink implements Sink {
  writes = 0;
  readonly bufferedBytes = 0;
  write(): void {
    this.writes++;
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  end(): void {}
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const info = { transport: 'bench', remoteAddress: '' };

async function run(
  name: string,
  count: number,
  messages: number,
  subscriptionOf: (i: number) => Subscription,
): Promise<void> {
  const log = new MemoryLog({ historySize: 1000, historyAgeMs: 3_600_000 });
  const hub = new Hub(log, await log.head(), { maxBufferedBytes: 1 << 20 });
  log.tail((message) => hub.deliver(message));
  const sinks: CountingSink[] = [];
  for (let i = 0; i < count; i++) {
    const sub = subscriptionOf(i);
    sinks.push(sub.sink as CountingSink);
    await hub.attach(sub, undefined);
  }
  await tick();
  const times: number[] = [];
  for (let j = 0; j < messages; j++) {
    const started = performance.now();
    const topic = `https://example.com/books/${j % count}`;
    await log.append(
      name === 'native (all)'
        ? { topics: ['all'], data: 'x' }
        : draftOf({ topics: [topic], data: 'x', private: false }),
    );
    await tick();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const delivered = sinks.reduce((sum, sink) => sum + sink.writes, 0);
  const median = times[Math.floor(times.length / 2)] as number;
  console.log(
    `${name.padEnd(34)} ${count} subscriptions: median ${median.toFixed(3)} ms per message, ${(
      (median * 1e6) / count
    ).toFixed(0)} ns per subscription; frames written ${delivered}`,
  );
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 10_000);
  const messages = Number(process.argv[3] ?? 200);
  const matchers = new TopicMatchers('https://hub.example/.well-known/mercure');
  const sub = (i: number, filter: MercureFilter | null, groups: string[]): Subscription =>
    new Subscription(
      `c${i}`,
      `u${i}`,
      groups,
      new CountingSink(),
      filter === null ? sseEncoder : mercureEncoder,
      info,
      filter,
    );
  await run('native (all)', count, messages, (i) => sub(i, null, []));
  const shared = matchers.get('urlpattern', 'https://example.com/books/:id');
  await run('mercure, one shared URL pattern', count, messages, (i) =>
    sub(i, new MercureFilter([shared], []), [PUBLIC_GROUP]),
  );
  await run('mercure, one exact topic each', count, messages, (i) =>
    sub(i, new MercureFilter([matchers.get('exact', `https://example.com/books/${i}`)], []), [PUBLIC_GROUP]),
  );
  await run('mercure, one URL pattern each', count, messages, (i) =>
    sub(i, new MercureFilter([matchers.get('urlpattern', `https://example.com/:shelf/${i}`)], []), [
      PUBLIC_GROUP,
    ]),
  );
}

await main();
