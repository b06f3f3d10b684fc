import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestCertificate } from './tls.js';

/** Where the executable `name` (`redis-server`, `redis-sentinel`) is, or undefined. */
export function findRedisBinary(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(delimiter)]) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

const REDIS_SERVER = findRedisBinary('redis-server');

if (REDIS_SERVER === undefined && process.env.CI) {
  throw new Error('redis-server is required in CI (apt-get install redis-server)');
}

/**
 * `false` when Redis tests can run; otherwise the one-line reason they are skipped. In CI a missing
 * `redis-server` fails instead (above): nothing may be skipped there.
 */
export const redisSkip: string | false =
  REDIS_SERVER === undefined
    ? 'redis-server not found; install it with: apt-get install redis-server'
    : false;

/** A `redis-server` started by a test: its own port and directory; no persistence unless asked. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Kills the server (SIGKILL, by pid) and waits for it to exit. */
  stop(): Promise<void>;
  /**
   * Kills the server (SIGKILL) and starts it again on the same port: with what it persisted, or empty
   * when it does not persist or `wipe` is set (a server that lost its data).
   */
  restart(options?: { wipe?: boolean }): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Starts `redis-server` on a free port in a temporary directory: `--save '' --appendonly no`, or with
 * `persistent` an append-only file fsynced on every write (`--appendfsync always`): what it acknowledged
 * survives a kill. With `tls` it serves TLS only (`rediss://`, clients need no certificate of their own);
 * `args` are added to its command line (`--replicaof …`).
 */
export async function startRedis({
  persistent = false,
  tls,
  args = [],
}: {
  persistent?: boolean;
  tls?: TestCertificate;
  args?: readonly string[];
} = {}): Promise<RedisServer> {
  if (REDIS_SERVER === undefined) throw new Error(redisSkip as string);
  const binary = REDIS_SERVER;
  const dir = await mkdtemp(join(tmpdir(), 'herald-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  let exited: Promise<unknown> = Promise.resolve();
  const launch = async (): Promise<void> => {
    const proc = spawn(
      binary,
      [
        ...(tls === undefined
          ? ['--port', String(port)]
          : [
              '--port',
              '0',
              '--tls-port',
              String(port),
              '--tls-cert-file',
              tls.certPath,
              '--tls-key-file',
              tls.keyPath,
              '--tls-ca-cert-file',
              tls.certPath,
              '--tls-auth-clients',
              'no',
            ]),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...(persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
        '--dir',
        dir,
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    exited = once(proc, 'exit');
    await new Promise<void>((resolve, reject) => {
      let output = '';
      proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('Ready to accept connections')) resolve();
      });
      void exited.then(() => reject(new Error(`redis-server exited: ${output}`)));
    });
    proc.stdout?.resume();
  };
  const kill = async (): Promise<void> => {
    const proc = child as ChildProcess | null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    process.kill(proc.pid as number, 'SIGKILL');
    await exited;
  };
  await launch();
  return {
    port,
    url: `${tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}/0`,
    get pid() {
      return (child as ChildProcess | null)?.pid ?? 0;
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    async restart({ wipe = false } = {}) {
      await kill();
      if (wipe) {
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
      }
      await launch();
    },
  };
}
