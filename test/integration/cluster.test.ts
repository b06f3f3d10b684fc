import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.js';
import { getJson, postJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';
import { type HeraldProcess, spawnHerald } from '../helpers/process.js';
import { type RedisServer, redisSkip, startRedis } from '../helpers/redis.js';
import { isMessage, openSse } from '../helpers/sse-client.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

describe('a cluster of Herald nodes on Redis', { skip: redisSkip }, () => {
  let redis: RedisServer;
  const nodes: TestHerald[] = [];
  const processes: HeraldProcess[] = [];
  let clusters = 0;
  /** Starts `count` in-process nodes sharing a fresh key prefix (a cluster of their own) on `url`. */
  const cluster = async (
    count: number,
    url = redis.url,
  ): Promise<{ prefix: string; nodes: TestHerald[] }> => {
    const prefix = `c${++clusters}:`;
    const started: TestHerald[] = [];
    for (let i = 0; i < count; i++) started.push(await join(prefix, url));
    return { prefix, nodes: started };
  };
  const join = async (prefix: string, url = redis.url): Promise<TestHerald> => {
    const node = await startHerald({ log: url, redisPrefix: prefix, presenceTtlMs: 1000 });
    nodes.push(node);
    return node;
  };
  const spawnNode = async (prefix: string): Promise<HeraldProcess> => {
    const node = await spawnHerald(['--log', redis.url, '--redis-prefix', prefix, '--presence-ttl', '1s']);
    processes.push(node);
    return node;
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const node of processes) await node.kill('SIGKILL');
    for (const node of nodes) await node.close().catch(() => {});
    await redis.stop();
  });

  test('a message published on one node reaches subscribers on every node, with the same id', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    const onA = await openSse(`${a?.url}/events?user=ann`);
    const onB = await openSse(`${b?.url}/events?user=ann`);
    await Promise.all([onA.waitFor(1), onB.waitFor(1)]);
    const id = await publish(a?.url as string, { to: { users: ['ann'] }, data: 'hello' });
    const [fromA] = await onA.waitFor(1, isMessage);
    const [fromB] = await onB.waitFor(1, isMessage);
    assert.deepEqual([fromA?.id, fromA?.data], [id, 'hello']);
    assert.deepEqual([fromB?.id, fromB?.data], [id, 'hello']);
    onA.close();
    onB.close();
  });

  test('a client reconnecting to another node with Last-Event-ID resumes exactly: in order, exactly once', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    const first = await openSse(`${a?.url}/events?user=bo`);
    for (const data of ['m1', 'm2']) await publish(b?.url as string, { to: { users: ['bo'] }, data });
    await first.waitFor(2, isMessage);
    const resumeFrom = first.lastEventId() as string;
    first.close();
    await first.ended;
    for (let i = 3; i <= 8; i++) {
      await publish((i % 2 === 0 ? a : b)?.url as string, { to: { users: ['bo'] }, data: `m${i}` });
    }
    const second = await openSse(`${b?.url}/events?user=bo`, { 'last-event-id': resumeFrom });
    await publish(a?.url as string, { to: { users: ['bo'] }, data: 'm9' });
    const received = await second.waitFor(7, isMessage);
    assert.deepEqual(
      received.map((e) => e.data),
      ['m3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9'],
    );
    await publish(b?.url as string, { to: { users: ['bo'] }, data: 'm10' });
    await second.waitFor(8, isMessage);
    assert.equal(second.events.filter(isMessage).length, 8, 'exactly once');
    assert.equal(second.events.filter((e) => e.event === 'gap').length, 0);
    second.close();
  });

  test('when a node is killed, its clients resume on another node with everything, in order, exactly once', async () => {
    const {
      prefix,
      nodes: [b],
    } = await cluster(1);
    const a = await spawnNode(prefix);
    const stream = await openSse(`${a.url}/events?user=cy`);
    await publish(b?.url as string, { to: { users: ['cy'] }, data: '0' });
    await stream.waitFor(1, isMessage);
    let stop = false;
    let sent = 1;
    const publishing = (async () => {
      while (!stop && sent < 200)
        await publish(b?.url as string, { to: { users: ['cy'] }, data: String(sent++) });
    })();
    await stream.waitFor(20, isMessage);
    await a.kill('SIGKILL');
    await stream.ended;
    const seen = stream.events.filter(isMessage).map((e) => e.data);
    const resumed = await openSse(`${b?.url}/events?user=cy`, {
      'last-event-id': stream.lastEventId() as string,
    });
    stop = true;
    await publishing;
    await resumed.waitFor(sent - seen.length, isMessage);
    seen.push(...resumed.events.filter(isMessage).map((e) => e.data));
    assert.deepEqual(
      seen,
      Array.from({ length: sent }, (_, i) => String(i)),
    );
    resumed.close();
  });

  test('Redis unreachable: publish answers 503, /readyz is not ready, subscribers stay connected, then nothing is skipped', async () => {
    const proxy = await startTcpProxy(redis.port);
    const {
      prefix,
      nodes: [b],
    } = await cluster(1);
    const a = await join(prefix, `redis://127.0.0.1:${proxy.port}/0`);
    const stream = await openSse(`${a.url}/events?user=di`);
    await publish(b?.url as string, { to: { users: ['di'] }, data: 'before' });
    await stream.waitFor(1, isMessage);
    assert.equal((await getJson(`${a.url}/readyz`)).status, 200);

    proxy.cut();
    const refused = await postJson(`${a.url}/messages`, { to: { users: ['di'] }, data: 'refused' });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.type, '/problems/log-unavailable');
    await eventually(
      'node A not ready while cut off',
      async () => (await getJson(`${a.url}/readyz`)).status === 503,
    );
    assert.equal((await getJson(`${a.url}/healthz`)).status, 200, 'still alive');
    const meanwhile = [];
    for (let i = 0; i < 5; i++)
      meanwhile.push(await publish(b?.url as string, { to: { users: ['di'] }, data: `m${i}` }));

    proxy.restore();
    const received = await stream.waitFor(6, isMessage, 15_000);
    assert.deepEqual(
      received.map((e) => e.data),
      ['before', 'm0', 'm1', 'm2', 'm3', 'm4'],
    );
    assert.deepEqual(
      received.slice(1).map((e) => e.id),
      meanwhile,
    );
    assert.equal(
      stream.events.filter((e) => e.event === 'disconnect').length,
      0,
      'the subscriber stayed connected',
    );
    await eventually('node A ready again', async () => (await getJson(`${a.url}/readyz`)).status === 200);
    await publish(a.url, { to: { users: ['di'] }, data: 'after' });
    await stream.waitFor(7, isMessage);
    stream.close();
    await proxy.close();
  });

  test('Redis restarted without persistence: a client resuming with an old id gets a gap, never a wrong replay', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    const first = await openSse(`${a?.url}/events?user=ed`);
    await publish(a?.url as string, { to: { users: ['ed'] }, data: 'old' });
    await first.waitFor(1, isMessage);
    const oldId = first.lastEventId() as string;
    first.close();
    const live = await openSse(`${b?.url}/events?user=ed`);
    await live.waitFor(1);

    await redis.restart();
    // Each node reconnects on its own backoff; until then its publishes answer 503.
    const publishOnceUp = (url: string, data: string) =>
      eventually('the node publishes again', async () => {
        const answer = await postJson(`${url}/messages`, { to: { users: ['ed'] }, data });
        return answer.status === 202;
      });
    await publishOnceUp(b?.url as string, 'new');
    // Node A reconnects on its own backoff too; until then a resume there is told `log-unavailable` (and
    // retries), as a load balancer would not send it there before /readyz says so.
    await eventually('node A ready again', async () => (await getJson(`${a?.url}/readyz`)).status === 200);
    const resumed = await openSse(`${a?.url}/events?user=ed`, { 'last-event-id': oldId });
    const [gap] = await resumed.waitFor(1, (e) => e.event === 'gap');
    assert.equal(JSON.parse(gap?.data ?? '').reason, 'unknown-id');
    const [fresh] = await live.waitFor(1, isMessage, 10_000);
    assert.equal(fresh?.data, 'new', 'a connected subscriber keeps receiving after the reset');
    await publishOnceUp(a?.url as string, 'live');
    await resumed.waitFor(1, (e) => e.data === 'live', 10_000);
    // After the gap only messages of the new history arrive live ('new' too, if node A's tail had not
    // delivered it yet when the client attached): never a replay of the old one.
    const afterGap = resumed.events.filter(isMessage).map((e) => e.data);
    assert.ok(
      JSON.stringify(afterGap) === '["live"]' || JSON.stringify(afterGap) === '["new","live"]',
      JSON.stringify(afterGap),
    );
    assert.equal(
      resumed.events.findIndex((e) => e.event === 'gap') < resumed.events.findIndex(isMessage),
      true,
    );
    resumed.close();
    live.close();
  });

  test('presence is identical on every node: /presence, /presence/users and /sse/getUserCount', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    const streams = await Promise.all([
      openSse(`${a?.url}/events?user=fay`),
      openSse(`${a?.url}/events?user=fay`),
      openSse(`${b?.url}/events?user=fay`),
      openSse(`${b?.url}/events?user=gus`),
    ]);
    await Promise.all(streams.map((s) => s.waitFor(1)));
    // Each node writes its counts to Redis right after the change; wait until both nodes' writes landed.
    await eventually(
      'presence written by both nodes',
      async () => (await getJson(`${a?.url}/presence`)).body.connections === 4,
    );
    for (const node of [a, b]) {
      const summary = await getJson(`${node?.url}/presence`);
      assert.deepEqual(summary.body, { connections: 4, users: 2 });
      const users = await getJson(`${node?.url}/presence/users`);
      assert.deepEqual(users.body.users, [
        { id: 'fay', online: true, connections: 3 },
        { id: 'gus', online: true, connections: 1 },
      ]);
      const page = await getJson(`${node?.url}/presence/users?limit=1`);
      assert.deepEqual(page.body, {
        users: [{ id: 'fay', online: true, connections: 3 }],
        nextCursor: 'fay',
      });
      const rest = await getJson(`${node?.url}/presence/users?limit=1&cursor=fay`);
      assert.deepEqual(rest.body.users, [{ id: 'gus', online: true, connections: 1 }]);
      const prefixed = await getJson(`${node?.url}/presence/users?prefix=g`);
      assert.deepEqual(prefixed.body.users, [{ id: 'gus', online: true, connections: 1 }]);
      assert.deepEqual((await getJson(`${node?.url}/presence/users/fay`)).body, {
        id: 'fay',
        online: true,
        connections: 3,
      });
      assert.equal((await getJson(`${node?.url}/sse/getUserCount`)).body, 2);
    }
    for (const stream of streams.slice(0, 3)) stream.close();
    await eventually('closed streams left presence on both nodes', async () => {
      const [onA, onB] = await Promise.all([getJson(`${a?.url}/presence`), getJson(`${b?.url}/presence`)]);
      return onA.body.users === 1 && onB.body.users === 1;
    });
    assert.deepEqual((await getJson(`${b?.url}/presence/users/fay`)).body, {
      id: 'fay',
      online: false,
      connections: 0,
    });
    streams[3]?.close();
  });

  test('a node that dies drops out of presence within --presence-ttl', async () => {
    const {
      prefix,
      nodes: [b],
    } = await cluster(1);
    const a = await spawnNode(prefix);
    const streams = await Promise.all([
      openSse(`${a.url}/events?user=hal`),
      openSse(`${b?.url}/events?user=ivy`),
    ]);
    await Promise.all(streams.map((s) => s.waitFor(1)));
    await eventually(
      'both connections counted on node B',
      async () => (await getJson(`${b?.url}/presence`)).body.connections === 2,
    );
    await a.kill('SIGKILL');
    const killedAt = Date.now();
    await eventually('the dead node dropped out', async () => {
      const summary = (await getJson(`${b?.url}/presence`)).body;
      return summary.connections === 1 && summary.users === 1;
    });
    const elapsed = Date.now() - killedAt;
    assert.ok(elapsed <= 1000 + 500, `dropped out after ${elapsed} ms (ttl 1 s)`);
    assert.deepEqual((await getJson(`${b?.url}/presence/users/hal`)).body, {
      id: 'hal',
      online: false,
      connections: 0,
    });
    for (const stream of streams) stream.close();
  });

  test('a server-side close reaches the user connections on every node (DELETE /users/{id}/connections, /sse/close)', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    const streams = await Promise.all([
      openSse(`${a?.url}/events?user=jo`),
      openSse(`${b?.url}/events?user=jo`),
    ]);
    await Promise.all(streams.map((s) => s.waitFor(1)));
    const other = await openSse(`${b?.url}/events?user=kai`);
    await other.waitFor(1);
    const answer = await fetch(`${a?.url}/users/jo/connections`, { method: 'DELETE' });
    assert.deepEqual(await answer.json(), { user: 'jo', closed: 2 });
    for (const stream of streams) {
      await stream.ended;
      const disconnect = stream.events.find((e) => e.event === 'disconnect');
      assert.equal(JSON.parse(disconnect?.data ?? '{}').reason, 'closed-by-server');
    }
    const classic = await openSse(`${a?.url}/sse/subscribe/kai`);
    await classic.waitFor(1);
    await getJson(`${b?.url}/sse/close/kai`);
    await Promise.all([other.ended, classic.ended]);
    const replay = await openSse(`${a?.url}/events?user=jo`, {
      'last-event-id': streams[0]?.lastEventId() as string,
    });
    await publish(a?.url as string, { to: { users: ['jo'] }, data: 'visible' });
    const [first] = await replay.waitFor(1, isMessage);
    assert.equal(first?.data, 'visible', 'control messages are never replayed to clients');
    replay.close();
  });

  test('the admin stats of any node list every live node of the cluster', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    const onB = await openSse(`${b?.url}/events?user=kim`);
    await onB.waitFor(1);
    const ids = [a, b].map((node) => node?.herald.nodeId);
    await eventually('node A lists both nodes', async () => {
      const nodes = (await getJson(`${a?.url}/admin/api/stats`)).body.latest.nodes as { id: string }[];
      return nodes.length === 2;
    });
    const { latest } = (await getJson(`${a?.url}/admin/api/stats`)).body;
    assert.deepEqual(
      latest.nodes.map((n: { id: string }) => n.id),
      ids,
      'this node first, then the others',
    );
    assert.equal(latest.nodes[1].connections, 1, "node B's figures as node B shared them");
    onB.close();
    await b?.close();
    await eventually('a node shut down leaves the list', async () => {
      const nodes = (await getJson(`${a?.url}/admin/api/stats`)).body.latest.nodes as unknown[];
      return nodes.length === 1;
    });
  });
});
