import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryLog } from '../../src/backends/memory/log.js';
import { Disconnect, type DisconnectReason } from '../../src/core/disconnect.js';
import { Hub } from '../../src/core/hub.js';
import type { Message } from '../../src/core/message.js';
import {
  type Encoder,
  type GapNotice,
  type Greeting,
  type Sink,
  Subscription,
} from '../../src/core/subscription.js';

/**
 * The hub on its own, without HTTP: a real `MemoryLog`, sinks that record what they are written and an
 * encoder that writes one readable line per frame. Every wait is for the hub's own `setImmediate` flush.
 */

/** Writes `message <id>` and `gap <id> <reason> <lastEventId>` lines, and remembers what it encoded. */
class RecordingEncoder implements Encoder {
  readonly encoded: string[] = [];
  readonly gaps: GapNotice[] = [];
  message(message: Message): Buffer {
    this.encoded.push(message.id);
    return Buffer.from(`message ${message.id}\n`);
  }
  gap(notice: GapNotice): Buffer {
    this.gaps.push(notice);
    return Buffer.from(`gap ${notice.id} ${notice.reason} ${notice.lastEventId}\n`);
  }
}

class RecordingSink implements Sink {
  readonly chunks: Buffer[] = [];
  bufferedBytes = 0;
  ended: DisconnectReason | null = null;
  write(chunk: Buffer): void {
    this.chunks.push(chunk);
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  end(reason: DisconnectReason): void {
    this.ended = reason;
  }
  /** Every line written so far, in order. */
  lines(): string[] {
    return Buffer.concat(this.chunks)
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '');
  }
}

const greeting: Greeting = (resumeId) => Buffer.from(`hello ${resumeId}\n`);

/** Resolves after the hub's flush scheduled so far (both are `setImmediate`s, run in order). */
const flushed = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const HISTORY = { historySize: 1000, historyAgeMs: 3_600_000 };

async function setup(maxBufferedBytes = 1 << 20): Promise<{ log: MemoryLog; hub: Hub }> {
  const log = new MemoryLog(HISTORY);
  const hub = new Hub(log, await log.head(), { maxBufferedBytes });
  log.tail((message) => hub.deliver(message));
  return { log, hub };
}

let connections = 0;
const sharedEncoder = new RecordingEncoder();

function connection(
  userId: string,
  groups: readonly string[] = [],
  encoder: Encoder = sharedEncoder,
): { sub: Subscription; sink: RecordingSink } {
  const sink = new RecordingSink();
  const sub = new Subscription(`c${++connections}`, userId, groups, sink, encoder, {
    transport: 'test',
    remoteAddress: '127.0.0.1',
  });
  return { sub, sink };
}

const publish = (log: MemoryLog, topics: string[], data = 'x'): Promise<Message> =>
  log.append({ topics, data });

/**
 * Holds the log's replay reads until `open()`: a resume is then registered (holding live messages) but
 * has not read yet. `afterRead` runs once a read has been computed, before the hub sees its page.
 */
function gateReads(log: MemoryLog): { open: () => void; afterRead: (() => Promise<void>) | null } {
  const read = log.readAfter.bind(log);
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const gate = { open, afterRead: null as (() => Promise<void>) | null };
  log.readAfter = async (id, audience, limit) => {
    await opened;
    const page = await read(id, audience, limit);
    await gate.afterRead?.();
    return page;
  };
  return gate;
}

describe('Hub', () => {
  test('messages published while a resume replays arrive once each, in order (held, then released)', async () => {
    const { log, hub } = await setup();
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) ids.push((await publish(log, ['user:ann'], `m${i}`)).id);
    const gate = gateReads(log);
    const { sub, sink } = connection('ann');
    const attached = hub.attach(sub, ids[0], greeting);
    // Published after registration and before the read: held live, and in the replay as well.
    ids.push((await publish(log, ['user:ann'])).id);
    ids.push((await publish(log, ['user:ann'])).id);
    assert.equal(sub.held?.length, 2, 'held while the replay has not read');
    // Published after the read: held only, released after the replay.
    gate.afterRead = async () => {
      gate.afterRead = null;
      ids.push((await publish(log, ['user:ann'])).id);
    };
    gate.open();
    await attached;
    assert.equal(sub.held, null, 'live once the replay is done');
    ids.push((await publish(log, ['user:ann'])).id);
    await flushed();
    assert.deepEqual(sink.lines(), [`hello ${ids[0]}`, ...ids.slice(1).map((id) => `message ${id}`)]);
    assert.equal(hub.counters.replayed, 4, 'm2..m5 from history');
  });

  test('skipThrough: live messages up to how far the replay read ahead of the local tail are skipped', async () => {
    const log = new MemoryLog(HISTORY);
    const hub = new Hub(log, await log.head(), { maxBufferedBytes: 1 << 20 });
    // This node's tail lags behind the shared log: messages reach the hub only on `catchUp`.
    const behind: Message[] = [];
    log.tail((message) => behind.push(message));
    const catchUp = (): void => {
      for (const message of behind.splice(0)) hub.deliver(message);
    };
    const m1 = await publish(log, ['user:ann']);
    catchUp();
    const m2 = await publish(log, ['user:ann']);
    const m3 = await publish(log, ['user:ann']);
    const { sub, sink } = connection('ann');
    await hub.attach(sub, m1.id, greeting);
    assert.equal(hub.lastPosition, m1.pos, 'the hub has not seen m2 and m3 yet');
    assert.equal(sub.skipThrough, m3.pos);
    const m4 = await publish(log, ['user:ann']);
    catchUp();
    await flushed();
    assert.deepEqual(sink.lines(), [
      `hello ${m1.id}`,
      `message ${m2.id}`,
      `message ${m3.id}`,
      `message ${m4.id}`,
    ]);
    assert.equal(sub.skipThrough, null, 'skipping ends at the first later message');
  });

  test('held messages past maxBufferedBytes close the resume with slow-consumer; others are unaffected', async () => {
    const { log, hub } = await setup(100);
    const base = await publish(log, ['all'], 'old');
    const gate = gateReads(log);
    const resuming = connection('a');
    const live = connection('b');
    await hub.attach(live.sub, undefined, greeting);
    const attached = hub.attach(resuming.sub, base.id, greeting);
    const first = await publish(log, ['all'], 'x'.repeat(60));
    assert.equal(resuming.sink.ended, null, '60 bytes held: within the bound');
    const second = await publish(log, ['all'], 'y'.repeat(60));
    assert.equal(resuming.sink.ended, Disconnect.slowConsumer, '120 bytes held: past the bound');
    assert.equal(resuming.sub.closed, true);
    assert.equal(hub.counters.slowConsumerCloses, 1);
    gate.open();
    await attached;
    await flushed();
    assert.deepEqual(resuming.sink.lines(), [], 'a slow consumer is dropped, not written to');
    assert.deepEqual(live.sink.lines(), [`hello ${base.id}`, `message ${first.id}`, `message ${second.id}`]);
    assert.equal(hub.connectionCount, 1);
  });

  test('a connection whose earlier output is still past the bound is closed at the flush; the others are written', async () => {
    const { log, hub } = await setup(100);
    const slow = connection('a');
    const fast = connection('b');
    await hub.attach(slow.sub, undefined, greeting);
    await hub.attach(fast.sub, undefined, greeting);
    await flushed();
    slow.sink.bufferedBytes = 101;
    const m = await publish(log, ['all']);
    await flushed();
    assert.equal(slow.sink.ended, Disconnect.slowConsumer);
    assert.equal(slow.sink.lines().length, 1, 'only the greeting, written before');
    assert.deepEqual(fast.sink.lines().slice(1), [`message ${m.id}`]);
    assert.equal(hub.counters.slowConsumerCloses, 1);
  });

  test('a message matching several topics of a connection is delivered to it once, encoded once per encoder', async () => {
    const { log, hub } = await setup();
    const encoder = new RecordingEncoder();
    const other = new RecordingEncoder();
    const ann = connection('ann', ['g'], encoder);
    const amy = connection('amy', ['g'], other);
    const bob = connection('bob', ['g'], encoder);
    for (const c of [ann, amy, bob]) await hub.attach(c.sub, undefined, greeting);
    const m = await publish(log, ['all', 'user:ann', 'group:g', 'prefix:a']);
    await flushed();
    for (const c of [ann, amy, bob]) assert.deepEqual(c.sink.lines().slice(1), [`message ${m.id}`]);
    assert.deepEqual(encoder.encoded, [m.id], 'one frame for both connections of the encoder');
    assert.deepEqual(other.encoded, [m.id]);
    assert.equal(hub.counters.delivered, 3);
  });

  test('an eviction during delivery to a user with two connections does not skip the other', async () => {
    const { log, hub } = await setup(100);
    const base = await publish(log, ['user:u']);
    const gate = gateReads(log);
    // The resuming one is the user's first connection, so the router visits it first.
    const first = connection('u');
    const second = connection('u');
    const attached = hub.attach(first.sub, base.id, greeting);
    await hub.attach(second.sub, undefined, greeting);
    const m = await publish(log, ['user:u'], 'z'.repeat(150));
    assert.equal(first.sink.ended, Disconnect.slowConsumer);
    gate.open();
    await attached;
    await flushed();
    assert.deepEqual(second.sink.lines(), [`hello ${base.id}`, `message ${m.id}`]);
    assert.deepEqual(hub.connectionsOf('u'), [second.sub]);
  });

  test('restartAt tells each live connection with one gap; a replaying one finds out from its replay', async () => {
    const { log, hub } = await setup();
    const m1 = await publish(log, ['all']);
    const encoder = new RecordingEncoder();
    const live1 = connection('a', [], encoder);
    const live2 = connection('b', [], encoder);
    await hub.attach(live1.sub, undefined, greeting);
    await hub.attach(live2.sub, undefined, greeting);
    const gate = gateReads(log);
    const replaying = connection('c', [], encoder);
    const attached = hub.attach(replaying.sub, m1.id, greeting);
    hub.restartAt('9-0');
    await flushed();
    for (const c of [live1, live2]) {
      assert.deepEqual(c.sink.lines(), [`hello ${m1.pos}`, `gap 9-0 unknown-id ${m1.pos}`]);
    }
    assert.deepEqual(replaying.sink.lines(), [`hello ${m1.id}`]);
    assert.equal(encoder.gaps.length, 1, 'one gap frame shared by every live connection');
    assert.equal(hub.counters.gaps, 2);
    assert.equal(hub.lastPosition, '9-0');
    assert.equal(hub.restartPosition, '9-0');
    const fresh = connection('d', [], encoder);
    await hub.attach(fresh.sub, undefined, greeting);
    await flushed();
    assert.deepEqual(fresh.sink.lines(), ['hello 9-0'], 'a fresh connection starts at the new log');
    gate.open();
    await attached;
  });

  test('counters: routed, delivered, replayed, gaps, bytes out, and what transports count', async () => {
    const { log, hub } = await setup();
    const counters = hub.counters;
    const m1 = await publish(log, ['user:nobody']);
    assert.equal(counters.routed, 1, 'routed even with no recipient');
    assert.equal(counters.delivered, 0);
    const live = connection('ann');
    await hub.attach(live.sub, undefined, greeting);
    const m2 = await publish(log, ['user:ann']);
    const m3 = await publish(log, ['all']);
    await flushed();
    assert.equal(live.sink.chunks.length, 1, 'greeting and both messages: one write in one tick');
    assert.equal(counters.routed, 3, 'a live view: read again, not copied');
    assert.equal(counters.delivered, 2);
    assert.equal(counters.bytesOut, live.sink.chunks[0]?.length);
    const resumed = connection('ann');
    await hub.attach(resumed.sub, m1.id, greeting);
    assert.equal(counters.replayed, 2, 'm2 and m3 from history');
    const lost = connection('ann');
    await hub.attach(lost.sub, 'unknown', greeting);
    await flushed();
    assert.deepEqual(resumed.sink.lines(), [`hello ${m1.id}`, `message ${m2.id}`, `message ${m3.id}`]);
    assert.deepEqual(lost.sink.lines(), ['hello unknown', `gap ${m3.pos} unknown-id unknown`]);
    assert.equal(counters.gaps, 1);
    hub.countGap();
    hub.countReplayed(5);
    assert.equal(counters.gaps, 2);
    assert.equal(counters.replayed, 7);
    assert.equal(counters.slowConsumerCloses, 0);
    const written = [live, resumed, lost].flatMap((c) => c.sink.chunks).reduce((n, b) => n + b.length, 0);
    assert.equal(counters.bytesOut, written);
  });

  test('an encoder may make empty frames: the sink is still written (a long poll only needs the signal)', async () => {
    const { log, hub } = await setup();
    const empty = Buffer.alloc(0);
    const signal: Encoder = { message: () => empty, gap: () => empty };
    const { sub, sink } = connection('ann', [], signal);
    await hub.attach(sub, undefined);
    await flushed();
    assert.equal(sink.chunks.length, 0, 'no greeting given: nothing written');
    await publish(log, ['user:ann']);
    await flushed();
    assert.equal(sink.chunks.length, 1);
    assert.equal(sink.chunks[0]?.length, 0);
    assert.equal(hub.counters.bytesOut, 0);
    hub.restartAt('9-0');
    await flushed();
    assert.equal(sink.chunks.length, 2, 'a gap wakes it too');
  });

  test('connections and users: counts, copies, prefixes, and any number of user-change listeners', async () => {
    const { hub } = await setup();
    const seen: string[] = [];
    const also: string[] = [];
    const stop = hub.onUserChange((userId, n) => seen.push(`${userId}=${n}`));
    hub.onUserChange((userId, n) => also.push(`${userId}=${n}`));
    const ann1 = connection('ann', ['g']);
    const ann2 = connection('ann');
    const bob = connection('bob', ['g', 'h']);
    for (const c of [ann1, ann2, bob]) await hub.attach(c.sub, undefined);
    assert.equal(hub.connectionCount, 3);
    assert.equal(hub.userCount, 2);
    assert.equal(hub.groupCount, 2);
    assert.equal(hub.connectionsInGroup('g'), 2);
    assert.equal(hub.connectionCountOf('ann'), 2);
    assert.equal(hub.connectionCountOf('nobody'), 0);
    assert.deepEqual(hub.connectionsOf('nobody'), []);
    const anns = hub.connectionsOf('ann');
    assert.deepEqual(anns, [ann1.sub, ann2.sub]);
    assert.deepEqual([...hub.onlineUsers()].sort(), [
      ['ann', 2],
      ['bob', 1],
    ]);
    assert.deepEqual([...hub.onlineUsers('b')], [['bob', 1]]);
    stop();
    for (const sub of anns) hub.end(sub, Disconnect.closedByServer);
    assert.deepEqual(seen, ['ann=1', 'ann=2', 'bob=1']);
    assert.deepEqual(also, ['ann=1', 'ann=2', 'bob=1', 'ann=1', 'ann=0']);
    assert.equal(ann1.sink.ended, Disconnect.closedByServer);
    assert.equal(hub.disconnectUser('bob'), 1);
    assert.equal(hub.connectionCount, 0);
    assert.equal(hub.groupCount, 0, 'no group index entry left behind');
  });
});
