import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_KEYS } from '../helpers/herald.js';
import { MERCURE_SECRET } from '../helpers/mercure.js';
import { type HeraldProcess, spawnHerald } from '../helpers/process.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/** The backends the model runs on: one node on memory, one on SQLite, three nodes on one Redis. */
export type Backend = 'memory' | 'sqlite' | 'redis';

/** Retention of every node in the model: small, so trimming (and its `gap`) happens within a run. */
export const HISTORY_SIZE = 300;

/** One Herald node of the world, restartable on the same port (so clients find it again). */
export interface WorldNode {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  process: HeraldProcess | null;
  /** The node's link to Redis (Redis world only). */
  readonly link: TcpProxy | null;
  /** The link is cut: the node cannot start (Herald refuses to start without its log). */
  linkCut: boolean;
}

/**
 * Real processes for one run of the model: Herald nodes in production mode (tokens, publish key) with a
 * small history and a small `--max-buffered`, and for Redis a persistent `redis-server` that each node
 * reaches through a relay of its own (so one node's link can be slowed or cut).
 */
export class World {
  readonly nodes: WorldNode[] = [];
  redis: RedisServer | null = null;
  private dir = '';

  constructor(readonly backend: Backend) {}

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), `herald-model-${this.backend}-`));
    if (this.backend === 'redis') this.redis = await startRedis({ persistent: true });
    const count = this.backend === 'redis' ? 3 : 1;
    for (let i = 0; i < count; i++) {
      const port = await stablePort();
      const link = this.redis === null ? null : await startTcpProxy(this.redis.port);
      const node: WorldNode = {
        name: `n${i + 1}`,
        port,
        url: `http://127.0.0.1:${port}`,
        process: null,
        link,
        linkCut: false,
      };
      this.nodes.push(node);
    }
    await Promise.all(this.nodes.map((node) => this.startNode(node)));
  }

  /** Nodes whose process is running. */
  get live(): WorldNode[] {
    return this.nodes.filter((node) => node.process !== null);
  }

  async startNode(node: WorldNode): Promise<void> {
    if (node.process !== null) return;
    const args = [
      '--port',
      String(node.port),
      '--log',
      this.logUrl(node),
      '--history-size',
      String(HISTORY_SIZE),
      '--max-buffered',
      '64KiB',
      '--body-limit',
      '1MiB',
      '--publish-rate',
      '100000',
      '--publish-burst',
      '100000',
      '--max-connections-per-user',
      '1000',
      '--presence-ttl',
      '1s',
      '--drain-timeout',
      '2s',
      '--poll-timeout',
      '2s',
      '--heartbeat',
      '1s',
      '--jwt-clock-skew',
      '0s',
      '--jwt-secret',
      TEST_KEYS.jwtSecret,
      '--publish-key',
      TEST_KEYS.publishKey,
      '--admin-key',
      TEST_KEYS.adminKey,
      // The Mercure hub too: `PublishViaMercure` publishes through it (one data path).
      '--mercure-publisher-jwt-key',
      MERCURE_SECRET,
    ];
    // A node restarted right after a kill may find its port in TIME_WAIT for a moment, or its SQLite
    // file still locked by the dying process: try again briefly.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        node.process = await spawnHerald(args, {}, { dev: false });
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** Ends a node with `signal` (SIGKILL: a crash; SIGTERM: a drain) and waits for it to exit. */
  async stopNode(node: WorldNode, signal: NodeJS.Signals): Promise<void> {
    const process = node.process;
    if (process === null) return;
    node.process = null;
    await process.kill(signal);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.stopNode(node, 'SIGKILL')));
    for (const node of this.nodes) await node.link?.close();
    await this.redis?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  private logUrl(node: WorldNode): string {
    if (this.backend === 'memory') return 'memory';
    if (this.backend === 'sqlite') return `sqlite:${join(this.dir, 'herald.db')}`;
    return `redis://127.0.0.1:${node.link?.port}/0`;
  }
}

/**
 * A free port below the kernel's ephemeral range (32768 and up): a node restarted on it cannot find it
 * taken by some client's outgoing connection meanwhile, as a port the kernel handed out could be.
 */
async function stablePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below the ephemeral range');
}
