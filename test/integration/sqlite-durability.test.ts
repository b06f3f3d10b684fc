import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sqliteDriver } from '../../src/backends/sqlite/driver.js';
import { type PruneEvent, SqliteLog } from '../../src/backends/sqlite/log.js';
import { DuplicateIdError, LogUnavailableError } from '../../src/core/ports.js';
import { postJson, publish } from '../helpers/herald.js';
import { type HeraldProcess, spawnHerald } from '../helpers/process.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

describe('SQLite log: durable across crashes', () => {
  let dir: string;
  const running = new Set<HeraldProcess>();
  const start = async (db: string): Promise<HeraldProcess> => {
    const node = await spawnHerald(['--log', `sqlite:${db}`]);
    running.add(node);
    void node.exited.then(() => running.delete(node));
    return node;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-sqlite-'));
  });
  after(async () => {
    for (const node of running) await node.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('after kill -9 and a restart, a client resuming with Last-Event-ID gets what it missed and ids keep increasing', async () => {
    const db = join(dir, 'crash.db');
    const first = await start(db);
    const stream = await openSse(`${first.url}/events?user=kim`);
    for (const data of ['m1', 'm2']) await publish(first.url, { to: { users: ['kim'] }, data });
    await stream.waitFor(2, isMessage);
    const resumeFrom = stream.lastEventId() as string;
    stream.close();
    const missed = [];
    for (const data of ['m3', 'm4']) missed.push(await publish(first.url, { to: { users: ['kim'] }, data }));
    await publish(first.url, { to: { users: ['kim'] }, id: 'kim-named', data: 'm5' });
    await first.kill('SIGKILL');

    const second = await start(db);
    const afterRestart = await publish(second.url, { to: { users: ['kim'] }, data: 'm6' });
    const resumed = await openSse(`${second.url}/events?user=kim`, { 'last-event-id': resumeFrom });
    const received = await resumed.waitFor(4, isMessage);
    assert.deepEqual(
      received.map((e) => e.data),
      ['m3', 'm4', 'm5', 'm6'],
    );
    assert.equal(resumed.events.filter((e) => e.event === 'gap').length, 0);
    assert.deepEqual(received[0]?.id, missed[0]);
    const [epochBefore, seqBefore] = (missed[1] as string).split('-');
    const [epochAfter, seqAfter] = afterRestart.split('-');
    assert.equal(epochAfter, epochBefore, 'the same file keeps its epoch');
    assert.ok(Number(seqAfter) > Number(seqBefore), 'ids keep increasing across the restart');
    const duplicate = await postJson(`${second.url}/messages`, {
      to: { all: true },
      id: 'kim-named',
      data: 'x',
    });
    assert.equal(duplicate.status, 409, 'publisher ids stay reserved across the restart');
    resumed.close();
    await second.kill();
  });

  test('every publish answered 202 before a kill -9 is replayed after the restart', async () => {
    const db = join(dir, 'burst.db');
    const first = await start(db);
    const [connected] = await (await openSse(`${first.url}/events?user=lee`)).waitFor(1);
    const origin = connected?.id as string;
    const accepted: string[] = [];
    let killed = false;
    const publishers = Array.from({ length: 8 }, async (_, worker) => {
      for (let i = 0; !killed; i++) {
        const data = `${worker}.${i}`;
        const answer = await postJson(`${first.url}/messages`, { to: { users: ['lee'] }, data }).catch(
          () => null,
        );
        if (answer?.status === 202) accepted.push(data);
        else return;
      }
    });
    while (accepted.length < 200) await new Promise((resolve) => setImmediate(resolve));
    await first.kill('SIGKILL');
    killed = true;
    await Promise.all(publishers);

    const second = await start(db);
    const resumed = await openSse(`${second.url}/events?user=lee`, { 'last-event-id': origin });
    await resumed.waitFor(accepted.length, isMessage, 10_000);
    const replayed = new Set(resumed.events.filter(isMessage).map((e) => e.data));
    for (const data of accepted) assert.ok(replayed.has(data), `accepted message ${data} was replayed`);
    resumed.close();
    await second.kill();
  });

  test('a second process cannot open a log file in use', async () => {
    const db = join(dir, 'locked.db');
    const node = await start(db);
    await assert.rejects(spawnHerald(['--log', `sqlite:${db}`]), /in use by another process/);
    await node.kill();
  });

  test('the background pruner deletes messages past retention in batches while appends go on', async () => {
    const log = new SqliteLog({
      path: join(dir, 'prune.db'),
      historySize: 100,
      historyAgeMs: 3_600_000,
      pruneBatch: 50,
    });
    for (let i = 0; i < 10; i++) {
      await log.appendMany(Array.from({ length: 100 }, (_, j) => ({ topics: ['all'], data: `${i}.${j}` })));
    }
    assert.equal(log.storedCount(), 1000);
    let pruned = false;
    const pruning = log.prune().then((count) => {
      pruned = true;
      return count;
    });
    // Appends interleave with the pruning steps instead of waiting for the whole delete.
    const during = await log.append({ topics: ['all'], data: 'during' });
    assert.equal(pruned, false, 'the append committed while pruning was still going on');
    assert.equal(await pruning, 901);
    assert.equal(log.storedCount(), 100);
    const replay = await log.readAfter(during.pos, { userId: 'x', groups: [] }, 10);
    assert.deepEqual(replay, { kind: 'messages', messages: [], through: during.pos, next: undefined });
    await log.close();
  });

  test('a failing prune is reported once per streak and loses nothing; its recovery is reported too', async () => {
    const path = join(dir, 'prune-fails.db');
    await new SqliteLog({ path, historySize: 5, historyAgeMs: 3_600_000 }).close();
    // Deletes fail while the log holds at most 20 messages: a disk that refuses, then recovers.
    const setup = new (sqliteDriver())(path);
    setup.exec(`CREATE TRIGGER prune_fails BEFORE DELETE ON messages WHEN (SELECT max(seq) FROM messages) <= 20
      BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END;`);
    setup.close();
    const events: PruneEvent[] = [];
    const log = new SqliteLog({
      path,
      historySize: 5,
      historyAgeMs: 3_600_000,
      onPruneEvent: (event) => events.push(event),
    });
    const appended = await log.appendMany(
      Array.from({ length: 20 }, (_, i) => ({ topics: ['all'], data: `m${i}` })),
    );
    assert.equal(await log.prune(), 0);
    assert.equal(await log.prune(), 0);
    assert.equal(events.length, 1, 'one report for the streak');
    assert.equal(events[0]?.kind, 'failing');
    assert.match(String((events[0] as { error?: Error }).error?.message), /simulated disk failure/);
    assert.equal(log.storedCount(), 20, 'nothing deleted');
    const replay = await log.readAfter(appended[14]?.pos as string, { userId: 'x', groups: [] }, 100);
    assert.deepEqual(
      replay.kind === 'messages' ? replay.messages.map((m) => m.data) : replay,
      ['m15', 'm16', 'm17', 'm18', 'm19'],
      'the retained history reads as before',
    );
    const later = await log.append({ topics: ['all'], data: 'accepted while pruning fails' });
    assert.equal(await log.prune(), 16);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['failing', 'recovered'],
    );
    assert.equal(log.storedCount(), 5);
    assert.equal(await log.head(), later.pos);
    await log.close();
  });

  test('a file written before publisher-id reservations keeps the ids of its messages reserved', async () => {
    const path = join(dir, 'before-reservations.db');
    const Driver = sqliteDriver();
    const old = new Driver(path);
    old.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, pid TEXT UNIQUE, topics TEXT NOT NULL,
        event TEXT, data TEXT NOT NULL, ts INTEGER NOT NULL, json INTEGER NOT NULL DEFAULT 0);
      INSERT INTO meta (key, value) VALUES ('epoch', '1700000000000000');
      INSERT INTO messages (pid, topics, data, ts) VALUES ('legacy-1', '["all"]', 'old', ${Date.now()});
    `);
    old.close();
    const log = new SqliteLog({ path, historySize: 10, historyAgeMs: 3_600_000 });
    await log.appendMany(Array.from({ length: 20 }, (_, i) => ({ topics: ['all'], data: `new ${i}` })));
    await log.prune();
    await assert.rejects(log.append({ id: 'legacy-1', topics: ['all'], data: 'retry' }), DuplicateIdError);
    assert.deepEqual(await log.readAfter('legacy-1', { userId: 'x', groups: [] }, 10), {
      kind: 'gap',
      reason: 'expired',
    });
    await log.close();
  });

  test('the pruner frees a publisher id once it is past the history age, and the id can be used again', async () => {
    let clock = 1_000_000;
    const log = new SqliteLog({
      path: join(dir, 'reservation-age.db'),
      historySize: 100,
      historyAgeMs: 1000,
      now: () => clock,
    });
    await log.append({ id: 'once', topics: ['all'], data: 'first' });
    clock += 999;
    await log.prune();
    await assert.rejects(log.append({ id: 'once', topics: ['all'], data: 'early retry' }), DuplicateIdError);
    clock += 2;
    await log.prune();
    const again = await log.append({ id: 'once', topics: ['all'], data: 'later' });
    assert.equal(again.id, 'once');
    await log.close();
  });

  test('when a group commit rolls back, every append of it fails as log-unavailable, a duplicate id too', async () => {
    const log = new SqliteLog({ path: join(dir, 'rollback.db'), historySize: 100, historyAgeMs: 3_600_000 });
    await log.append({ id: 'stored', topics: ['all'], data: 'first' });
    const head = await log.head();
    // Appended in one event-loop turn: one transaction, which the NOT NULL constraint on data rolls back.
    const retry = log.append({ id: 'stored', topics: ['all'], data: 'retry' });
    const fresh = log.append({ id: 'fresh', topics: ['all'], data: 'fresh' });
    const broken = log.append({ topics: ['all'], data: null as unknown as string });
    const outcomes = await Promise.allSettled([retry, fresh, broken]);
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'rejected');
      assert.ok(outcome.reason instanceof LogUnavailableError, String(outcome.reason));
    }
    assert.equal(await log.head(), head, 'nothing of the batch was stored');
    const again = await log.append({ id: 'fresh', topics: ['all'], data: 'fresh, retried' });
    assert.equal(again.id, 'fresh', 'the rolled-back id was never reserved');
    await log.close();
  });
});
