/**
 * The servers under test, each started fresh as its own process pinned to the server core: Herald, the
 * peers of `bench/peers/` (installed there by the bench when missing) and Nchan (Debian's nginx module).
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativePath } from './native.js';
import { pinned, ROOT, startHeraldProcess } from './processes.js';

/** How subscribers talk to the server. */
export type ClientMode = 'sse' | 'socket.io';
/** How the server takes publishes: Herald's `POST /messages` JSON, or Nchan's `POST /pub?id=<channel>`. */
export type PublishStyle = 'herald' | 'nchan';

/** A running server under test. */
export interface ServerUnderTest {
  readonly port: number;
  /** The process whose tree's resident memory is measured. */
  readonly pid: number;
  stop(): Promise<void>;
}

/** How the bench talks to a server kind, and how to start one. */
export interface ServerKind {
  readonly name: string;
  readonly mode: ClientMode;
  readonly style: PublishStyle;
  /** Subscriber path; `{i}` is the subscriber's index (its user is `u{i}`). */
  readonly path: string;
  /** Whether `POST /messages` takes a JSON array (one request, many messages). */
  readonly batch: boolean;
  /** Undefined when it can run here; else the one-line reason it is skipped. */
  unavailable(): string | undefined;
  start(core: number): Promise<ServerUnderTest>;
}

const PEERS = `${ROOT}bench/peers/`;
const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

/** Installs the npm peers into `bench/peers/node_modules` once (their own package.json). */
export function ensurePeersInstalled(): string | undefined {
  if (existsSync(`${PEERS}node_modules/better-sse`) && existsSync(`${PEERS}node_modules/socket.io`)) return;
  process.stderr.write('installing the npm peers into bench/peers/ …\n');
  try {
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', PEERS], { stdio: 'inherit' });
    return undefined;
  } catch (error) {
    return `npm install in bench/peers failed: ${(error as Error).message}`;
  }
}

/** Installs nginx and Nchan from Debian when missing and running as root; else says why it cannot. */
export function ensureNchanInstalled(): string | undefined {
  if (existsSync('/usr/sbin/nginx') && existsSync(NCHAN_MODULE)) return undefined;
  if (process.getuid?.() !== 0) {
    return 'Nchan skipped: not root; install it with `apt-get install -y nginx libnginx-mod-nchan`';
  }
  process.stderr.write('installing nginx and libnginx-mod-nchan from Debian …\n');
  try {
    execFileSync('apt-get', ['install', '-y', 'nginx', 'libnginx-mod-nchan'], { stdio: 'inherit' });
    return undefined;
  } catch {
    return 'Nchan skipped: `apt-get install -y nginx libnginx-mod-nchan` failed';
  }
}

/**
 * Starts `command` pinned to `core`; resolves once it prints `listening <port>`. A Node peer writes a CPU
 * profile to `BENCH_PROFILE` too, as Herald does, so both profiles can be set side by side.
 */
async function startPrinting(core: number, command: string, args: string[], env: NodeJS.ProcessEnv) {
  const profileDir = process.env.BENCH_PROFILE;
  const profile =
    profileDir && command === process.execPath ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const [file, argv] = pinned(core, command, [...profile, ...args]);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start: ${out}`)), 30_000);
    child.stdout?.on('data', (chunk) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}): ${out}`)));
  });
  child.stdout?.resume();
  return {
    port,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await once(child, 'exit');
      clearTimeout(timer);
    },
  };
}

function nodePeer(name: string, file: string, mode: ClientMode = 'sse'): ServerKind {
  return {
    name,
    mode,
    style: 'herald',
    path: mode === 'socket.io' ? '/socket.io/?EIO=4&transport=websocket&user=u{i}' : '/events?user=u{i}',
    batch: true,
    unavailable: () => (existsSync(`${PEERS}node_modules`) ? undefined : 'bench/peers is not installed'),
    start: (core) => startPrinting(core, process.execPath, [`${PEERS}${file}`], { PORT: '0' }),
  };
}

/** A free port, for nginx (which cannot print the port it got). */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** The references the table divides by: the machine's ceiling and the floor of a `node:http` server. */
export const C_REFERENCE = 'epoll-ref';
export const NODE_HTTP_REFERENCE = 'node-http-ref';

/** Every server kind: Herald, the references, then the peers. */
export const SERVER_KINDS: readonly ServerKind[] = [
  {
    name: 'herald',
    mode: 'sse',
    style: 'herald',
    path: '/events?user=u{i}',
    batch: true,
    unavailable: () => undefined,
    async start(core) {
      const node = await startHeraldProcess(core);
      return { port: node.port, pid: node.pid, stop: node.stop };
    },
  },
  {
    name: C_REFERENCE,
    mode: 'sse',
    style: 'herald',
    path: '/events?user=u{i}',
    batch: true,
    unavailable: () => (existsSync(nativePath('epoll-reference')) ? undefined : 'gcc could not build it'),
    start: (core) => startPrinting(core, nativePath('epoll-reference'), [], { PORT: '0' }),
  },
  {
    name: NODE_HTTP_REFERENCE,
    mode: 'sse',
    style: 'herald',
    path: '/events?user=u{i}',
    batch: true,
    unavailable: () => undefined,
    start: (core) => startPrinting(core, process.execPath, [`${PEERS}node-http-ref.mjs`], { PORT: '0' }),
  },
  {
    name: 'nchan',
    mode: 'sse',
    style: 'nchan',
    path: '/sub?user=u{i}',
    batch: false,
    unavailable: () =>
      existsSync('/usr/sbin/nginx') && existsSync(NCHAN_MODULE)
        ? undefined
        : 'nginx with libnginx-mod-nchan is not installed',
    async start(core) {
      const prefix = mkdtempSync(join(tmpdir(), 'herald-bench-nchan-'));
      for (const dir of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs']) mkdirSync(join(prefix, dir));
      const port = await freePort();
      const config = readFileSync(`${PEERS}nchan.conf`, 'utf8')
        .replaceAll('__MODULE__', NCHAN_MODULE)
        .replaceAll('__PREFIX__', prefix)
        .replaceAll('__PORT__', String(port));
      writeFileSync(join(prefix, 'nginx.conf'), config);
      const [file, argv] = pinned(core, '/usr/sbin/nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')]);
      const child = spawn(file, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !(await answers(port))) await new Promise((r) => setTimeout(r, 50));
      return {
        port,
        pid: child.pid as number,
        async stop() {
          if (child.exitCode === null) {
            // Quick shutdown of the master (by its pid); it stops its worker.
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await once(child, 'exit');
            clearTimeout(timer);
          }
          rmSync(prefix, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'raw-net',
    mode: 'sse',
    style: 'herald',
    path: '/events?user=u{i}',
    batch: true,
    unavailable: () => undefined,
    start: (core) => startPrinting(core, process.execPath, [`${PEERS}raw-net.mjs`], { PORT: '0' }),
  },
  nodePeer('node-http', 'node-http.mjs'),
  nodePeer('better-sse', 'better-sse.mjs'),
  nodePeer('@fastify/sse', 'fastify-sse.mjs'),
  nodePeer('socket.io', 'socket-io.mjs', 'socket.io'),
];

async function answers(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resident memory of a process and all its descendants, in KiB (from /proc). */
export function rssTreeKb(pid: number): number {
  let total = 0;
  const seen = new Set<number>();
  const visit = (p: number): void => {
    if (seen.has(p) || seen.size > 64) return;
    seen.add(p);
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      for (const child of children === '' ? [] : children.split(' ')) visit(Number(child));
    } catch {}
  };
  visit(pid);
  return total;
}
