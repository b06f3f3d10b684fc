import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Message, MessageDraft } from '../../src/core/message.js';
import { DuplicateIdError, type Log } from '../../src/core/ports.js';
import type { Audience } from '../../src/protocol/topics.js';

/** Retention and clock a contract case opens its log with. */
export interface ContractLogOptions {
  readonly historySize: number;
  readonly historyAgeMs: number;
  /** A fake clock; backends that keep time elsewhere (Redis) ignore it and skip the cases that need it. */
  readonly now?: () => number;
}

/** A log under test, on storage of its own. */
export interface OpenedLog {
  readonly log: Log;
  /** Closes `log` and opens the same storage again, as a restarted process would. */
  reopen(): Promise<Log>;
  /** Runs the backend's background retention to its end now, for backends that trim in the background. */
  pruneNow?(): Promise<void>;
}

/** How to get fresh, empty logs of one backend. */
export interface LogSubject {
  open(options: ContractLogOptions): Promise<OpenedLog>;
  /** Releases what every log of the suite shared (files, servers). */
  cleanup?(): Promise<void>;
}

/** Every case of the contract, by name; a backend's skip list names cases from here with a reason each. */
export const CASES = {
  positions: 'append assigns digit-first positions that increase, and head is the last one',
  tailOrder: 'every appended message reaches the tail exactly once, in position order',
  readAudience: 'readAfter returns exactly the later messages addressed to the audience, in order',
  readAudienceAmidLarge:
    'readAfter picks each topic kind addressed to the audience from among large messages to others, page by page',
  paging: 'readAfter pages with next while more history remains, and the pages add up',
  publisherId: 'readAfter after a publisher-chosen id resumes right after that message',
  emptyHead: 'readAfter of the head of an empty log returns no message and no next',
  through:
    'readAfter says how far it covered the log: the head when nothing remains, even with nothing addressed',
  unknownId: 'an id this log never issued is a gap with reason unknown-id',
  expiredByCount: 'an id older than the retained count is a gap with reason expired',
  expiredByAge: 'an id older than the retained age is a gap with reason expired',
  reservedAfterTrim:
    'a publisher id stays reserved for the history age after its message was trimmed by count',
  reservedReadExpired: 'readAfter of a reserved id whose message was trimmed is a gap expired',
  duplicate:
    'a reused publisher id is refused with DuplicateIdError, and a batch holding one is refused whole',
  batch: 'appendMany stores the batch atomically and in order',
  fields:
    'event name, JSON flag, topics and multi-line data come back unchanged from the tail and from readAfter',
  restart: 'after a restart history stays readable and positions keep increasing',
} as const;

/** Name of one contract case. */
export type CaseName = keyof typeof CASES;

const AGE = 60_000;

/**
 * The `Log` contract (see `src/core/ports.ts`), run against one backend. `skip` lists the cases this
 * backend cannot run, each with the reason; nothing else may be skipped.
 */
export function logContract(
  backend: string,
  subject: LogSubject,
  skip: Partial<Record<CaseName, string>> = {},
): void {
  const opened: Log[] = [];
  const open = async (options: Partial<ContractLogOptions> = {}): Promise<OpenedLog & { tail: Tail }> => {
    const handle = await subject.open({ historySize: 1000, historyAgeMs: AGE, ...options });
    opened.push(handle.log);
    await handle.log.head();
    const tail = tailOf(handle.log);
    return { ...handle, tail };
  };
  const it = (name: CaseName, body: () => Promise<void>): void => {
    const reason = skip[name];
    test(CASES[name], reason === undefined ? {} : { skip: reason }, body);
  };

  describe(`Log contract: ${backend}`, () => {
    after(async () => {
      for (const log of opened) await log.close().catch(() => {});
      await subject.cleanup?.();
    });

    it('positions', async () => {
      const { log } = await open();
      const start = await log.head();
      assert.match(start, /^\d/);
      const positions: string[] = [];
      for (let i = 0; i < 5; i++) positions.push((await log.append(draft(['all'], `m${i}`))).pos);
      for (const pos of positions) assert.match(pos, /^\d/, 'positions start with a digit');
      assert.ok(log.comparePositions(start, positions[0] as string) < 0, 'the start is before the first');
      for (let i = 1; i < positions.length; i++) {
        assert.ok(log.comparePositions(positions[i - 1] as string, positions[i] as string) < 0);
        assert.ok(log.comparePositions(positions[i] as string, positions[i - 1] as string) > 0);
      }
      assert.equal(log.comparePositions(positions[2] as string, positions[2] as string), 0);
      assert.equal(await log.head(), positions[4]);
      const message = await log.append(draft(['all'], 'no id'));
      assert.equal(message.id, message.pos, 'without a publisher id the id is the position');
    });

    it('tailOrder', async () => {
      const { log, tail } = await open();
      const appended: Message[] = [];
      appended.push(await log.append(draft(['user:a'], 'one')));
      appended.push(...(await log.appendMany([draft(['user:a'], 'two'), draft(['group:g'], 'three')])));
      appended.push(
        ...(await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(draft(['all'], `c${i}`))))),
      );
      await tail.until(appended.length);
      const sorted = [...appended].sort((a, b) => log.comparePositions(a.pos, b.pos));
      assert.deepEqual(
        tail.seen.map((m) => m.pos),
        sorted.map((m) => m.pos),
      );
      assert.deepEqual(
        tail.seen.slice(0, 3).map((m) => m.data),
        ['one', 'two', 'three'],
      );
      assert.equal(new Set(tail.seen.map((m) => m.pos)).size, appended.length, 'each exactly once');
      assert.deepEqual(tail.seen[0]?.topics, ['user:a']);
    });

    it('readAudience', async () => {
      const { log } = await open();
      const from = await log.head();
      await log.append(draft(['user:ann'], 'for ann'));
      await log.append(draft(['user:bob'], 'for bob'));
      await log.append({ topics: ['group:ops'], event: 'alert', data: 'for ops' });
      await log.append(draft(['prefix:an'], 'for an*'));
      await log.append(draft(['all'], 'for all'));
      await log.append(draft(['user:bob', 'group:ops'], 'bob or ops'));
      const replay = await log.readAfter(from, audience('ann', ['ops']), 100);
      assert.equal(replay.kind, 'messages');
      assert.deepEqual(
        replay.messages.map((m) => m.data),
        ['for ann', 'for ops', 'for an*', 'for all', 'bob or ops'],
      );
      assert.equal(replay.messages[1]?.event, 'alert');
      assert.equal(replay.next, undefined);
    });

    it('readAudienceAmidLarge', async () => {
      const { log } = await open();
      const from = await log.head();
      const large = 'x'.repeat(64 * 1024);
      // Near misses of the audience below: another user, another group, a prefix of neither.
      const others = [
        ['user:annabel'],
        ['user:an'],
        ['group:opsx'],
        ['group:op'],
        ['prefix:annx'],
        ['prefix:b'],
      ];
      const addressed: [string[], string][] = [
        [['user:ann'], 'user'],
        [['group:qa'], 'group'],
        [['prefix:an'], 'prefix'],
        [['prefix:ann'], 'the whole id as prefix'],
        [['all'], 'all'],
        [['user:bob', 'group:ops'], 'a later topic'],
      ];
      for (const [topics, data] of addressed) {
        await log.appendMany([...others.map((other) => ({ topics: other, data: large })), { topics, data }]);
      }
      const seen: string[] = [];
      let after = from;
      for (let pages = 0; pages < 20; pages++) {
        const replay = await log.readAfter(after, audience('ann', ['ops', 'qa']), 2);
        assert.equal(replay.kind, 'messages');
        seen.push(...replay.messages.map((m) => m.data));
        if (replay.next === undefined) {
          assert.equal(replay.through, await log.head());
          break;
        }
        assert.equal(replay.next, replay.through);
        after = replay.next;
      }
      assert.deepEqual(
        seen,
        addressed.map(([, data]) => data),
      );
    });

    it('paging', async () => {
      const { log } = await open();
      const from = await log.head();
      const appended = await log.appendMany(Array.from({ length: 25 }, (_, i) => draft(['user:p'], `m${i}`)));
      const seen: string[] = [];
      let after = from;
      for (let pages = 0; pages < 50; pages++) {
        const replay = await log.readAfter(after, audience('p'), 4);
        assert.equal(replay.kind, 'messages');
        assert.ok(replay.messages.length <= 4);
        seen.push(...replay.messages.map((m) => m.data));
        if (replay.next === undefined) break;
        after = replay.next;
      }
      assert.deepEqual(
        seen,
        appended.map((m) => m.data),
      );
    });

    it('publisherId', async () => {
      const { log } = await open();
      await log.append(draft(['user:q'], 'before'));
      const named = await log.append({ id: 'order-17', topics: ['user:q'], data: 'named' });
      assert.equal(named.id, 'order-17');
      assert.notEqual(named.pos, 'order-17');
      await log.append(draft(['user:q'], 'after 1'));
      await log.append({ id: 'order-18', topics: ['user:q'], data: 'after 2' });
      const replay = await log.readAfter('order-17', audience('q'), 100);
      assert.equal(replay.kind, 'messages');
      assert.deepEqual(
        replay.messages.map((m) => [m.id.startsWith('order') ? m.id : 'pos', m.data]),
        [
          ['pos', 'after 1'],
          ['order-18', 'after 2'],
        ],
      );
    });

    it('emptyHead', async () => {
      const { log } = await open();
      const head = await log.head();
      const replay = await log.readAfter(head, audience('e'), 10);
      assert.deepEqual(replay, { kind: 'messages', messages: [], through: head, next: undefined });
    });

    it('through', async () => {
      const { log } = await open();
      const first = await log.append(draft(['user:t'], 'for t'));
      await log.append(draft(['user:other'], 'not for t'));
      const last = await log.append(draft(['user:other'], 'not for t either'));
      // Nothing after `first` is addressed to t, yet the read covered the log through its head: a node
      // whose tail has not delivered those messages yet must not send them again as live.
      const replay = await log.readAfter(first.id, audience('t'), 10);
      assert.equal(replay.kind, 'messages');
      assert.deepEqual(replay.messages, []);
      assert.equal(replay.through, last.pos);
      assert.equal(replay.through, await log.head());
      const paged = await log.readAfter(first.id, audience('other'), 1);
      assert.equal(paged.kind, 'messages');
      assert.equal(paged.next, paged.through, 'with more to read, through is where the next page starts');
      assert.ok(log.comparePositions(paged.through, first.pos) > 0);
    });

    it('unknownId', async () => {
      const { log } = await open();
      const other = await open();
      await log.append(draft(['all'], 'here'));
      const foreign = await other.log.append(draft(['all'], 'elsewhere'));
      for (const id of [foreign.pos, '12345-999', '0', 'never-used', '1-2-3-4', 'x']) {
        assert.deepEqual(
          await log.readAfter(id, audience('u'), 10),
          { kind: 'gap', reason: 'unknown-id' },
          id,
        );
      }
    });

    it('expiredByCount', async () => {
      const { log } = await open({ historySize: 10 });
      const start = await log.head();
      const first = await log.append(draft(['user:c'], 'first'));
      for (let i = 0; i < 3; i++) {
        await log.appendMany(Array.from({ length: 100 }, (_, j) => draft(['user:c'], `m${i}.${j}`)));
      }
      for (const id of [start, first.pos]) {
        assert.deepEqual(await log.readAfter(id, audience('c'), 10), { kind: 'gap', reason: 'expired' }, id);
      }
      const recent = await log.append(draft(['user:c'], 'recent'));
      await log.append(draft(['user:c'], 'last'));
      const replay = await log.readAfter(recent.pos, audience('c'), 10);
      assert.equal(replay.kind, 'messages');
      assert.deepEqual(
        replay.messages.map((m) => m.data),
        ['last'],
      );
    });

    it('expiredByAge', async () => {
      let clock = 1_000_000;
      const { log } = await open({ historyAgeMs: 1000, now: () => clock });
      const start = await log.head();
      const old = await log.append(draft(['user:d'], 'old'));
      clock += 600;
      const young = await log.append(draft(['user:d'], 'young'));
      clock += 600;
      assert.deepEqual(await log.readAfter(start, audience('d'), 10), { kind: 'gap', reason: 'expired' });
      const replay = await log.readAfter(old.pos, audience('d'), 10);
      assert.equal(replay.kind, 'messages');
      assert.deepEqual(
        replay.messages.map((m) => m.pos),
        [young.pos],
      );
    });

    /** Opens a log that keeps 10 messages, appends `id` and then enough to trim it by count. */
    const trimmedPublisherId = async (id: string): Promise<Log> => {
      const handle = await open({ historySize: 10 });
      await handle.log.append({ id, topics: ['user:k'], data: 'named' });
      // Redis trims whole stream nodes (100 entries by default): enough for the first node to go.
      for (let i = 0; i < 3; i++) {
        await handle.log.appendMany(Array.from({ length: 100 }, (_, j) => draft(['user:k'], `m${i}.${j}`)));
      }
      await handle.pruneNow?.();
      return handle.log;
    };

    it('reservedAfterTrim', async () => {
      const log = await trimmedPublisherId('kept-1');
      const head = await log.head();
      await assert.rejects(log.append({ id: 'kept-1', topics: ['user:k'], data: 'retry' }), DuplicateIdError);
      await assert.rejects(
        log.appendMany([draft(['user:k'], 'innocent'), { id: 'kept-1', topics: ['user:k'], data: 'retry' }]),
        (error: unknown) => error instanceof DuplicateIdError && error.id === 'kept-1',
      );
      assert.equal(await log.head(), head, 'the retries stored nothing');
    });

    it('reservedReadExpired', async () => {
      const log = await trimmedPublisherId('kept-2');
      assert.deepEqual(await log.readAfter('kept-2', audience('k'), 10), { kind: 'gap', reason: 'expired' });
    });

    it('duplicate', async () => {
      const { log, tail } = await open();
      await log.append({ id: 'dup-1', topics: ['all'], data: 'first' });
      await assert.rejects(log.append({ id: 'dup-1', topics: ['all'], data: 'again' }), DuplicateIdError);
      const head = await log.head();
      await assert.rejects(
        log.appendMany([draft(['all'], 'innocent'), { id: 'dup-1', topics: ['all'], data: 'again' }]),
        (error: unknown) => error instanceof DuplicateIdError && error.id === 'dup-1',
      );
      await assert.rejects(
        log.appendMany([
          { id: 'twin', topics: ['all'], data: 'a' },
          { id: 'twin', topics: ['all'], data: 'b' },
        ]),
        DuplicateIdError,
      );
      assert.equal(await log.head(), head, 'a refused batch stores nothing');
      const fresh = await log.append({ id: 'twin', topics: ['all'], data: 'now alone' });
      await tail.until(2);
      assert.deepEqual(
        tail.seen.map((m) => m.data),
        ['first', 'now alone'],
      );
      assert.equal(fresh.id, 'twin');
    });

    it('fields', async () => {
      const { log, tail } = await open();
      const start = await log.head();
      const sent: MessageDraft[] = [
        { topics: ['user:f', 'group:g'], event: 'order', data: '{"total":12}', json: true },
        { topics: ['all'], data: 'line one\nline two' },
      ];
      await log.append(sent[0] as MessageDraft);
      await log.append(sent[1] as MessageDraft);
      await tail.until(2);
      const replay = await log.readAfter(start, audience('f', ['g']), 10);
      assert.equal(replay.kind, 'messages');
      for (const got of [tail.seen, replay.kind === 'messages' ? replay.messages : []]) {
        assert.deepEqual(
          got.map((m) => ({ topics: m.topics, event: m.event, data: m.data, json: m.json === true })),
          sent.map((d) => ({ topics: d.topics, event: d.event, data: d.data, json: d.json === true })),
        );
      }
    });

    it('batch', async () => {
      const { log, tail } = await open();
      const from = await log.head();
      const batch = await log.appendMany([
        { id: 'b-1', topics: ['user:b'], data: '1' },
        draft(['user:b'], '2'),
        { topics: ['user:b'], event: 'custom', data: '3' },
      ]);
      assert.deepEqual(
        batch.map((m) => m.data),
        ['1', '2', '3'],
      );
      assert.equal(batch[0]?.id, 'b-1');
      assert.ok(log.comparePositions(batch[0]?.pos as string, batch[1]?.pos as string) < 0);
      assert.ok(log.comparePositions(batch[1]?.pos as string, batch[2]?.pos as string) < 0);
      assert.deepEqual(await log.appendMany([]), []);
      await tail.until(3);
      const replay = await log.readAfter(from, audience('b'), 10);
      assert.equal(replay.kind, 'messages');
      assert.deepEqual(
        replay.messages.map((m) => [m.id, m.pos, m.data, m.event]),
        batch.map((m) => [m.id, m.pos, m.data, m.event]),
      );
    });

    it('restart', async () => {
      const first = await open();
      const from = await first.log.head();
      const before = await first.log.append(draft(['user:r'], 'before'));
      const named = await first.log.append({ id: 'named-r', topics: ['user:r'], data: 'named' });
      const log = await first.reopen();
      opened.push(log);
      assert.equal(await log.head(), named.pos, 'the head survives the restart');
      const replay = await log.readAfter(from, audience('r'), 10);
      assert.equal(replay.kind, 'messages');
      assert.deepEqual(
        replay.messages.map((m) => m.data),
        ['before', 'named'],
      );
      const later = await log.append(draft(['user:r'], 'after restart'));
      assert.ok(log.comparePositions(before.pos, later.pos) < 0, 'positions keep increasing');
      await assert.rejects(log.append({ id: 'named-r', topics: ['all'], data: 'x' }), DuplicateIdError);
      const resumed = await log.readAfter('named-r', audience('r'), 10);
      assert.equal(resumed.kind, 'messages');
      assert.deepEqual(
        resumed.messages.map((m) => m.data),
        ['after restart'],
      );
    });
  });
}

interface Tail {
  readonly seen: Message[];
  /** Resolves once `count` messages have reached the tail; rejects after 5 s. */
  until(count: number): Promise<void>;
}

function tailOf(log: Log): Tail {
  const seen: Message[] = [];
  let wake: (() => void) | null = null;
  log.tail((message) => {
    seen.push(message);
    wake?.();
  });
  return {
    seen,
    async until(count) {
      const deadline = Date.now() + 5000;
      while (seen.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`the tail saw ${seen.length}/${count} messages`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
    },
  };
}

function draft(topics: string[], data: string): MessageDraft {
  return { topics, data };
}

function audience(userId: string, groups: string[] = []): Audience {
  return { userId, groups };
}
