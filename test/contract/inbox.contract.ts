import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import { openBackend } from '../../src/backends/registry.js';
import { Hub } from '../../src/core/hub.js';
import type { Backend } from '../../src/core/ports.js';
import { DAY_MS, TestClock } from '../helpers/clock.js';

/** A backend under test on storage of its own, whose inbox expiry follows `clock`. */
export interface OpenedBackend {
  readonly backend: Backend;
  /** Closes the backend and opens the same storage again, as a restarted node would. */
  reopen(): Promise<Backend>;
}

/** How to get fresh backends of one kind: a `--log` URL of storage no other case uses. */
export interface BackendSubject {
  url(): string;
  cleanup?(): Promise<void>;
}

/** Every case of the inbox and groups contract, by name. */
export const INBOX_CASES = {
  personal: 'a ttl message to users waits for each of them, in log order; one without a ttl does not',
  shared: 'a ttl message to all, a group or a prefix waits for every user it addresses, once per user',
  ackIds: 'acknowledging ids removes exactly those, for that user only',
  ackThrough: 'acknowledging through a message covers it and every earlier one, personal and shared',
  cursorForward:
    "a user's cursor never moves back: a late acknowledgement through an earlier id keeps the later one",
  expiry: 'an expired message no longer waits and is no longer found',
  find: 'find resolves publisher ids and positions of kept messages, and nothing else',
  paging: 'waiting pages in log order after a position',
  clear: 'clear acknowledges everything waiting now, personal and shared',
  groups:
    'server-side groups are replaced and changed atomically, sorted and distinct; unknown users have none',
  restart: 'inboxes and server-side groups survive a restart of the node',
  idle: 'a store that answers without I/O says idle only while nothing can wait for the user, and knows its groups',
} as const;

export type InboxCaseName = keyof typeof INBOX_CASES;

const silent = pino({ level: 'silent' });

/**
 * The inbox and group store contract (`core/inbox.ts`, `core/groups.ts`) through a backend's `Backend`,
 * run against one backend. `skip` names the cases it cannot run, each with the reason.
 */
export function inboxContract(
  name: string,
  subject: BackendSubject,
  skip: Partial<Record<InboxCaseName, string>> = {},
): void {
  const open: Backend[] = [];
  const start = async (clock: TestClock, url = subject.url()): Promise<OpenedBackend> => {
    const options = {
      historySize: 1000,
      historyAgeMs: 3_600_000,
      nodeId: 'contract',
      keyPrefix: url.startsWith('redis')
        ? `inbox-contract-${Math.random().toString(36).slice(2)}:`
        : 'herald:',
      presenceTtlMs: 1000,
      logger: silent,
      now: clock.now,
      inboxMaxTtlMs: 7 * DAY_MS,
      presenceDebounceMs: 100,
      presenceHistory: 100,
    };
    const attach = async (): Promise<Backend> => {
      const opening = await openBackend(url, options);
      const hub = new Hub(opening.log, await opening.log.head(), { maxBufferedBytes: 1 << 20 });
      const backend = opening.attach(hub);
      opening.log.tail((message) => {
        hub.deliver(message);
        backend.observe(message);
      });
      open.push(backend);
      return backend;
    };
    const backend = await attach();
    return {
      backend,
      async reopen() {
        await backend.close();
        open.splice(open.indexOf(backend), 1);
        return attach();
      },
    };
  };
  const it = (name: InboxCaseName, body: () => Promise<void>): void => {
    const reason = skip[name];
    test(INBOX_CASES[name], reason === undefined ? {} : { skip: reason }, body);
  };
  const ann = { userId: 'ann', groups: ['red'] };
  const bob = { userId: 'bob', groups: [] };
  const waitingData = async (
    backend: Backend,
    audience: { userId: string; groups: string[] },
  ): Promise<string[]> => (await backend.inbox.waiting(audience, { limit: 100 })).messages.map((m) => m.data);

  describe(`inbox contract: ${name}`, () => {
    after(async () => {
      for (const backend of open) await backend.close().catch(() => {});
      await subject.cleanup?.();
    });

    it('personal', async () => {
      const { backend } = await start(new TestClock());
      await backend.log.append({ topics: ['user:ann', 'user:bob'], data: 'both', ttlMs: 60_000 });
      await backend.log.append({ topics: ['user:ann'], data: 'live only' });
      await backend.log.append({ topics: ['user:ann'], data: 'second', ttlMs: 60_000 });
      assert.deepEqual(await waitingData(backend, ann), ['both', 'second']);
      assert.deepEqual(await waitingData(backend, bob), ['both']);
      assert.equal((await backend.inbox.waiting(ann, { limit: 1 })).unread, 2);
    });

    it('shared', async () => {
      const { backend } = await start(new TestClock());
      await backend.log.appendMany([
        { topics: ['all'], data: 'everyone', ttlMs: 60_000 },
        { topics: ['group:red'], data: 'red', ttlMs: 60_000 },
        { topics: ['group:blue'], data: 'blue', ttlMs: 60_000 },
        { topics: ['prefix:an'], data: 'an*', ttlMs: 60_000 },
        { topics: ['user:ann', 'group:red'], data: 'ann and red', ttlMs: 60_000 },
      ]);
      assert.deepEqual(await waitingData(backend, ann), ['everyone', 'red', 'an*', 'ann and red']);
      assert.deepEqual(await waitingData(backend, bob), ['everyone']);
    });

    it('ackIds', async () => {
      const { backend } = await start(new TestClock());
      const [a, b] = await backend.log.appendMany([
        { topics: ['user:ann', 'user:bob'], data: 'a', ttlMs: 60_000 },
        { topics: ['all'], data: 'b', ttlMs: 60_000 },
        { topics: ['user:ann'], data: 'c', ttlMs: 60_000 },
      ]);
      assert.ok(a && b);
      const result = await backend.inbox.acknowledge(ann, { kind: 'ids', messages: [a, b] });
      assert.deepEqual(result, { acked: 2, unread: 1 });
      assert.deepEqual(await waitingData(backend, ann), ['c']);
      assert.deepEqual(await waitingData(backend, bob), ['a', 'b']);
    });

    it('ackThrough', async () => {
      const { backend } = await start(new TestClock());
      const messages = await backend.log.appendMany([
        { topics: ['user:ann'], data: 'p1', ttlMs: 60_000 },
        { topics: ['all'], data: 's1', ttlMs: 60_000 },
        { topics: ['group:red'], data: 's2', ttlMs: 60_000 },
        { topics: ['user:ann'], data: 'p2', ttlMs: 60_000 },
        { topics: ['all'], data: 's3', ttlMs: 60_000 },
      ]);
      const through = messages[2];
      assert.ok(through);
      assert.deepEqual(await backend.inbox.acknowledge(ann, { kind: 'through', message: through }), {
        acked: 3,
        unread: 2,
      });
      assert.deepEqual(await waitingData(backend, ann), ['p2', 's3']);
      assert.deepEqual(await waitingData(backend, bob), ['s1', 's3']);
    });

    it('cursorForward', async () => {
      const { backend } = await start(new TestClock());
      const [first, second] = await backend.log.appendMany([
        { topics: ['all'], data: 'one', ttlMs: 60_000 },
        { topics: ['all'], data: 'two', ttlMs: 60_000 },
        { topics: ['all'], data: 'three', ttlMs: 60_000 },
      ]);
      assert.ok(first && second);
      await backend.inbox.acknowledge(bob, { kind: 'through', message: second });
      await backend.inbox.acknowledge(bob, { kind: 'through', message: first });
      assert.deepEqual(await waitingData(backend, bob), ['three']);
    });

    it('expiry', async () => {
      const clock = new TestClock();
      const { backend } = await start(clock);
      const short = await backend.log.append({
        id: 'short-lived',
        topics: ['user:ann'],
        data: 'short',
        ttlMs: 60_000,
      });
      await backend.log.append({ topics: ['all'], data: 'shared short', ttlMs: 60_000 });
      await backend.log.append({ topics: ['user:ann'], data: 'long', ttlMs: 3_600_000 });
      clock.advance(61_000);
      assert.deepEqual(await waitingData(backend, ann), ['long']);
      assert.equal((await backend.inbox.find(['short-lived', short.pos])).size, 0);
    });

    it('find', async () => {
      const { backend } = await start(new TestClock());
      const named = await backend.log.append({
        id: 'order-7',
        topics: ['user:ann'],
        data: 'named',
        ttlMs: 60_000,
      });
      const bare = await backend.log.append({ topics: ['all'], data: 'bare', ttlMs: 60_000 });
      const liveOnly = await backend.log.append({ id: 'live-1', topics: ['user:ann'], data: 'x' });
      const found = await backend.inbox.find(['order-7', bare.pos, 'live-1', liveOnly.pos, 'nothing', '1-1']);
      assert.deepEqual(
        [...found.entries()].map(([id, m]) => [id, m.pos, m.data, m.expiresAt === undefined]),
        [
          ['order-7', named.pos, 'named', false],
          [bare.pos, bare.pos, 'bare', false],
        ],
      );
    });

    it('paging', async () => {
      const { backend } = await start(new TestClock());
      for (let i = 0; i < 5; i++)
        await backend.log.append({ topics: ['user:ann'], data: `m${i}`, ttlMs: 60_000 });
      const first = await backend.inbox.waiting(ann, { limit: 2 });
      assert.deepEqual([first.unread, first.messages.map((m) => m.data)], [5, ['m0', 'm1']]);
      const second = await backend.inbox.waiting(ann, { limit: 2, after: first.next });
      assert.deepEqual(
        second.messages.map((m) => m.data),
        ['m2', 'm3'],
      );
      const last = await backend.inbox.waiting(ann, { limit: 2, after: second.next });
      assert.deepEqual([last.messages.map((m) => m.data), last.next], [['m4'], undefined]);
    });

    it('clear', async () => {
      const { backend } = await start(new TestClock());
      await backend.log.append({ topics: ['user:ann'], data: 'p', ttlMs: 60_000 });
      await backend.log.append({ topics: ['group:red'], data: 's', ttlMs: 60_000 });
      assert.equal(await backend.inbox.clear(ann), 2);
      assert.deepEqual(await waitingData(backend, ann), []);
      await backend.log.append({ topics: ['all'], data: 'later', ttlMs: 60_000 });
      assert.deepEqual(await waitingData(backend, ann), ['later']);
    });

    it('groups', async () => {
      const { backend } = await start(new TestClock());
      assert.deepEqual(await backend.groups.of('nobody'), []);
      assert.deepEqual(await backend.groups.replace('gil', ['b', 'a', 'b']), ['a', 'b']);
      assert.deepEqual(await backend.groups.change('gil', ['c', 'd'], ['a', 'd']), ['b', 'c']);
      assert.deepEqual(await backend.groups.of('gil'), ['b', 'c']);
      assert.deepEqual(await backend.groups.replace('gil', []), []);
      assert.deepEqual(await backend.groups.of('gil'), []);
    });

    it('idle', async () => {
      const { backend } = await start(new TestClock());
      const idle = backend.inbox.idle;
      assert.ok(idle !== undefined && backend.groups.known !== undefined);
      assert.equal(idle(ann), true);
      await backend.log.append({ topics: ['user:bob'], data: 'for bob', ttlMs: 60_000 });
      await backend.log.append({ topics: ['group:blue'], data: 'for blue', ttlMs: 60_000 });
      assert.equal(idle(ann), true);
      await backend.log.append({ topics: ['prefix:an'], data: 'for an*', ttlMs: 60_000 });
      assert.equal(idle(ann), false);
      assert.equal(idle({ userId: 'zed', groups: ['blue'] }), false);
      await backend.groups.replace('ann', ['x']);
      assert.deepEqual(backend.groups.known('ann'), ['x']);
    });

    it('restart', async () => {
      const opened = await start(new TestClock());
      const kept = await opened.backend.log.append({
        id: 'kept-1',
        topics: ['user:ann'],
        data: 'kept',
        ttlMs: 60_000,
      });
      const acked = await opened.backend.log.append({ topics: ['all'], data: 'acked', ttlMs: 60_000 });
      await opened.backend.log.append({ topics: ['all'], data: 'after', ttlMs: 60_000 });
      await opened.backend.inbox.acknowledge(bob, { kind: 'through', message: acked });
      await opened.backend.groups.replace('ann', ['crew']);
      const backend = await opened.reopen();
      assert.deepEqual(await waitingData(backend, ann), ['kept', 'acked', 'after']);
      assert.deepEqual(await waitingData(backend, bob), ['after']);
      assert.equal((await backend.inbox.find(['kept-1'])).get('kept-1')?.pos, kept.pos);
      assert.deepEqual(await backend.groups.of('ann'), ['crew']);
    });
  });
}
