import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryLog } from '../../src/backends/memory/log.js';
import { Hub } from '../../src/core/hub.js';
import type { Message } from '../../src/core/message.js';
import { type Encoder, type MessageFilter, type Sink, Subscription } from '../../src/core/subscription.js';

/** The hub's `MessageFilter` seam, with a real `MemoryLog` and a sink that records its frames. */

const encoder: Encoder = {
  message: (message: Message) => Buffer.from(`${message.data}\n`),
  gap: (notice) => Buffer.from(`gap ${notice.reason}\n`),
};

function recordingSink(): Sink & { lines(): string[] } {
  const chunks: Buffer[] = [];
  return {
    bufferedBytes: 0,
    write: (chunk) => {
      chunks.push(chunk);
    },
    drained: () => Promise.resolve(),
    end: () => {},
    lines: () => Buffer.concat(chunks).toString().split('\n').filter(Boolean),
  };
}

const onlyEven: MessageFilter = { accepts: (message) => Number(message.data) % 2 === 0 };
const flushed = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a subscription filter narrows live delivery: the router reaches it, the filter decides', async () => {
  const log = new MemoryLog({ historySize: 100, historyAgeMs: 3_600_000 });
  const hub = new Hub(log, await log.head(), { maxBufferedBytes: 1 << 20 });
  log.tail((message) => hub.deliver(message));
  const filtered = recordingSink();
  const plain = recordingSink();
  const info = { transport: 'test', remoteAddress: '' };
  await hub.attach(new Subscription('a', 'ann', [], filtered, encoder, info, onlyEven), undefined);
  await hub.attach(new Subscription('b', 'bob', [], plain, encoder, info), undefined);
  for (let i = 1; i <= 4; i++) await log.append({ topics: ['all'], data: String(i) });
  await flushed();
  assert.deepEqual(filtered.lines(), ['2', '4']);
  assert.deepEqual(plain.lines(), ['1', '2', '3', '4']);
  assert.equal(hub.counters.delivered, 6);
});

test('a subscription filter narrows a replay, and held messages, the same way', async () => {
  const log = new MemoryLog({ historySize: 100, historyAgeMs: 3_600_000 });
  const hub = new Hub(log, await log.head(), { maxBufferedBytes: 1 << 20 });
  log.tail((message) => hub.deliver(message));
  const first = await log.append({ topics: ['all'], data: '0' });
  for (let i = 1; i <= 4; i++) await log.append({ topics: ['all'], data: String(i) });
  const sink = recordingSink();
  const sub = new Subscription(
    'a',
    'ann',
    [],
    sink,
    encoder,
    { transport: 'test', remoteAddress: '' },
    onlyEven,
  );
  const attached = hub.attach(sub, first.id);
  // Published while the replay is under way: held, then released through the same filter.
  await log.append({ topics: ['all'], data: '5' });
  await log.append({ topics: ['all'], data: '6' });
  await attached;
  await flushed();
  assert.deepEqual(sink.lines(), ['2', '4', '6']);
  assert.equal(hub.counters.replayed, 2);
});
