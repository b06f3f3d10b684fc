import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryInboxTables } from '../../src/backends/memory/inbox.js';
import { MemoryLog } from '../../src/backends/memory/log.js';
import type { DisconnectReason } from '../../src/core/disconnect.js';
import { Hub } from '../../src/core/hub.js';
import { Inbox } from '../../src/core/inbox.js';
import type { Message } from '../../src/core/message.js';
import {
  type Encoder,
  type GapNotice,
  type InboxNotice,
  type Sink,
  Subscription,
} from '../../src/core/subscription.js';

/**
 * The hub with per-user state, without HTTP: a real `MemoryLog` with real inbox tables, sinks that
 * record what they are written, an encoder that writes one readable line per frame.
 */

class LineEncoder implements Encoder {
  message(message: Message): Buffer {
    return Buffer.from(`message ${message.data}\n`);
  }
  gap(notice: GapNotice): Buffer {
    return Buffer.from(`gap ${notice.id}\n`);
  }
  inbox(notice: InboxNotice): Buffer {
    return Buffer.from(`inbox ${notice.unread}${notice.id === undefined ? '' : ` at ${notice.id}`}\n`);
  }
  groups(groups: readonly string[]): Buffer {
    return Buffer.from(`groups ${groups.join(',')}\n`);
  }
}

class LineSink implements Sink {
  private readonly chunks: Buffer[] = [];
  bufferedBytes = 0;
  write(chunk: Buffer): void {
    this.chunks.push(chunk);
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  end(_reason: DisconnectReason): void {}
  lines(): string[] {
    return Buffer.concat(this.chunks)
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '');
  }
}

const flushed = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const encoder = new LineEncoder();
let connections = 0;

/** A hub on a memory log with inboxes, and server-side groups the test sets through `serverGroups`. */
async function setup(loadGroups?: (userId: string) => Promise<readonly string[]>) {
  // Without `loadGroups` the groups are known at once, as a store in this process knows them.
  const tables = new MemoryInboxTables({ now: Date.now, maxTtlMs: 86_400_000 });
  const log = new MemoryLog({ historySize: 1000, historyAgeMs: 3_600_000, keep: (m) => tables.keep(m) });
  const hub = new Hub(log, await log.head(), { maxBufferedBytes: 1 << 20 });
  const inbox = new Inbox(tables, {
    compare: (a, b) => log.comparePositions(a, b),
    now: Date.now,
    head: () => log.head(),
    announce: (userId, unread) => hub.tellUnread(userId, unread),
  });
  const serverGroups = new Map<string, readonly string[]>();
  const known = (userId: string): readonly string[] => serverGroups.get(userId) ?? [];
  hub.serveUsers({
    loadGroups: loadGroups ?? (async (userId) => known(userId)),
    knownGroups: loadGroups === undefined ? known : undefined,
    inbox,
  });
  log.tail((message) => hub.deliver(message));
  const open = (userId: string, groups: string[] = []) => {
    const sink = new LineSink();
    const sub = new Subscription(`c${++connections}`, userId, groups, sink, encoder, {
      transport: 'test',
      remoteAddress: '',
    });
    return { sub, sink, attached: hub.attach(sub, undefined, (id) => Buffer.from(`hello ${id}\n`)) };
  };
  return { log, hub, inbox, tables, serverGroups, open };
}

describe('the hub with inboxes and server-side groups', () => {
  test('a connection without Last-Event-ID gets its inbox up to its registration, then the count, then live', async () => {
    const { log, open } = await setup();
    await log.append({ topics: ['user:ann'], data: 'waited', ttlMs: 60_000 });
    await log.append({ topics: ['user:ann'], data: 'no ttl' });
    const head = await log.head();
    const { sink, attached } = open('ann');
    await attached;
    await log.append({ topics: ['user:ann'], data: 'live with ttl', ttlMs: 60_000 });
    await flushed();
    assert.deepEqual(sink.lines(), [
      `hello ${head}`,
      'message waited',
      `inbox 1 at ${head}`,
      'message live with ttl',
    ]);
  });

  test('a ttl message published while the connection opens reaches it once, in log order', async () => {
    let release: (() => void) | undefined;
    const { log, open } = await setup(() => new Promise((resolve) => (release = () => resolve([]))));
    await log.append({ topics: ['user:bo'], data: 'first', ttlMs: 60_000 });
    const { sink, attached } = open('bo');
    // The groups load holds the registration; a message now is before it: the inbox brings it.
    await log.append({ topics: ['user:bo'], data: 'second', ttlMs: 60_000 });
    release?.();
    await attached;
    await log.append({ topics: ['user:bo'], data: 'third', ttlMs: 60_000 });
    await flushed();
    assert.deepEqual(
      sink.lines().filter((line) => line.startsWith('message')),
      ['message first', 'message second', 'message third'],
    );
  });

  test('server-side groups join a connection before it registers, and changes regroup live connections at once', async () => {
    const { log, hub, serverGroups, open } = await setup();
    serverGroups.set('cy', ['ops']);
    const { sub, sink, attached } = open('cy', ['own']);
    await attached;
    assert.deepEqual([...sub.groups].sort(), ['ops', 'own']);
    await log.append({ topics: ['group:ops'], data: 'to ops' });
    hub.setServerGroups('cy', ['sales']);
    await log.append({ topics: ['group:ops'], data: 'to ops after leaving' });
    await log.append({ topics: ['group:sales'], data: 'to sales' });
    await log.append({ topics: ['group:own'], data: 'to own' });
    await flushed();
    assert.deepEqual(
      sink.lines().filter((line) => !line.startsWith('hello')),
      ['groups own,ops', 'message to ops', 'groups own,sales', 'message to sales', 'message to own'],
    );
    assert.equal(hub.connectionsInGroup('ops'), 0);
  });

  test('a connection whose user has nothing waiting and no server-side groups registers at once', async () => {
    const { log, hub, open } = await setup();
    await log.append({ topics: ['user:other'], data: 'not for eve', ttlMs: 60_000 });
    const { sink } = open('eve');
    assert.equal(hub.connectionCountOf('eve'), 1);
    await flushed();
    assert.deepEqual(sink.lines(), [`hello ${await log.head()}`]);
  });

  test("an acknowledgement is told to the user's live connections", async () => {
    const { log, inbox, open } = await setup();
    const waiting = await log.append({ topics: ['user:di'], data: 'x', ttlMs: 60_000 });
    const { sink, attached } = open('di');
    await attached;
    await inbox.acknowledge({ userId: 'di', groups: [] }, { kind: 'ids', messages: [waiting] });
    await flushed();
    assert.equal(sink.lines().at(-1), 'inbox 0');
  });
});
