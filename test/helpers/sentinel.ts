import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from './eventually.js';
import { findRedisBinary, freePort, type RedisServer, redisSkip, startRedis } from './redis.js';

const REDIS_SENTINEL = findRedisBinary('redis-sentinel');

if (REDIS_SENTINEL === undefined && process.env.CI) {
  throw new Error('redis-sentinel is required in CI (apt-get install redis-sentinel)');
}

/** `false` when Sentinel tests can run; otherwise why they are skipped (in CI a missing binary fails, above). */
export const sentinelSkip: string | false =
  redisSkip !== false
    ? redisSkip
    : REDIS_SENTINEL === undefined
      ? 'redis-sentinel not found; install it with: apt-get install redis-sentinel'
      : false;

/** The name the sentinels monitor the primary under. */
export const MASTER_NAME = 'herald';

/** A primary, its replica and three sentinels watching them, each its own process on its own port. */
export interface SentinelGroup {
  /** `redis+sentinel://` naming the three sentinels and the master name: what `--log` takes. */
  readonly url: string;
  /** The two data nodes: the first starts as the primary. */
  readonly servers: readonly [RedisServer, RedisServer];
  /** The port the sentinels name as the primary now. */
  primaryPort(): Promise<number>;
  /** A client of the data node on `port` (closed by `stop`). */
  client(port: number): Redis;
  /** `SENTINEL FAILOVER`; resolves once the sentinels name the replica and it answers as a primary. */
  failover(): Promise<number>;
  /** Kills the primary (`kill -9`); resolves once the sentinels promoted the replica. */
  killPrimary(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts the group: the primary, a replica that has synchronised with it, then three sentinels (quorum 2,
 * the primary counted down after 1 s) that know the replica — and, with `agreeing`, each other, which
 * takes them a few seconds and only a failover they must agree on (`killPrimary`) needs; `failover` is
 * one sentinel's decision.
 */
export async function startSentinelGroup({
  agreeing = false,
}: {
  agreeing?: boolean;
} = {}): Promise<SentinelGroup> {
  if (sentinelSkip !== false) throw new Error(sentinelSkip);
  const binary = REDIS_SENTINEL as string;
  const primary = await startRedis();
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  const clients: Redis[] = [];
  const client = (port: number): Redis => {
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    clients.push(redis);
    return redis;
  };
  const replicaClient = client(replica.port);
  // Started after the replica synchronised, the sentinels learn of it from their first look at the primary.
  await eventually('the replica synchronised', async () =>
    /master_link_status:up/.test(await replicaClient.info('replication')),
  );
  const dir = await mkdtemp(join(tmpdir(), 'herald-sentinel-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const sentinels: { child: ChildProcess; exited: Promise<unknown> }[] = [];
  for (const [i, port] of ports.entries()) {
    const config = join(dir, `sentinel-${i}.conf`);
    await writeFile(
      config,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        '',
      ].join('\n'),
    );
    const child = spawn(binary, [config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    sentinels.push({ child, exited });
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('+monitor master')) resolve();
      });
      void exited.then(() => reject(new Error(`redis-sentinel exited: ${output}`)));
    });
    child.stdout?.resume();
  }
  const sentinelClients = ports.map(client);
  await eventually(
    agreeing
      ? 'every sentinel knows the replica and the other sentinels'
      : 'every sentinel knows the replica',
    async () => {
      for (const sentinel of sentinelClients) {
        const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[];
        const others = (await sentinel.call('SENTINEL', 'SENTINELS', MASTER_NAME)) as unknown[];
        if (replicas.length !== 1 || (agreeing && others.length !== 2)) return false;
      }
      return true;
    },
    20_000,
  );
  const primaryPort = async (): Promise<number> => {
    const [, port] = (await (sentinelClients[0] as Redis).call(
      'SENTINEL',
      'GET-MASTER-ADDR-BY-NAME',
      MASTER_NAME,
    )) as [string, string];
    return Number(port);
  };
  /** Waits until every sentinel names `port` and that node answers as a primary. */
  const promoted = async (port: number): Promise<number> => {
    const node = client(port);
    await eventually(
      `the sentinels name ${port} the primary`,
      async () => {
        for (const sentinel of sentinelClients) {
          const [, named] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [
            string,
            string,
          ];
          if (Number(named) !== port) return false;
        }
        return /role:master/.test(await node.info('replication'));
      },
      20_000,
    );
    return port;
  };
  const other = (port: number): number => (port === primary.port ? replica.port : primary.port);
  return {
    url: `redis+sentinel://${ports.map((port) => `127.0.0.1:${port}`).join(',')}/${MASTER_NAME}`,
    servers: [primary, replica],
    primaryPort,
    client,
    async failover() {
      const before = await primaryPort();
      await (sentinelClients[0] as Redis).call('SENTINEL', 'FAILOVER', MASTER_NAME);
      return promoted(other(before));
    },
    async killPrimary() {
      if (!agreeing) throw new Error('killPrimary needs a group started with { agreeing: true }');
      const before = await primaryPort();
      const server = before === primary.port ? primary : replica;
      process.kill(server.pid, 'SIGKILL');
      return promoted(other(before));
    },
    async stop() {
      for (const redis of clients) redis.disconnect();
      for (const { child, exited } of sentinels) {
        if (child.exitCode === null && child.signalCode === null)
          process.kill(child.pid as number, 'SIGKILL');
        await exited;
      }
      await primary.stop();
      await replica.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
