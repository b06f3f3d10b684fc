import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The project root (bench files run from dist/bench/...). */
export const ROOT = new URL('../../../', import.meta.url).pathname;

/** `taskset -c <core>` when available, so server and load generator each get one core. */
export function pinned(core: number, command: string, args: string[]): [string, string[]] {
  return existsSync('/usr/bin/taskset')
    ? ['/usr/bin/taskset', ['-c', String(core), command, ...args]]
    : [command, args];
}

/** A Herald node in its own process, pinned to `core`; resolves once it listens. */
export async function startHeraldProcess(
  core: number,
  extraArgs: string[] = [],
): Promise<{ url: string; port: number; pid: number; stop: () => Promise<void>; rssKb: () => number }> {
  const args = [
    `${ROOT}bin/herald.js`,
    '--dev',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--log-level',
    'info',
    '--heartbeat',
    '0',
    '--max-connections',
    '0',
    '--max-connections-per-ip',
    '0',
    '--max-connections-per-user',
    '0',
    '--publish-rate',
    '0',
    '--body-limit',
    '4MiB',
    ...extraArgs,
  ];
  // BENCH_PROFILE=<dir>: each node writes a V8 CPU profile there when it stops (see bench/profile-top.ts),
  // and its standard output (where BENCH_NODE_FLAGS such as `--trace-gc` print) to `herald-<pid>.log`.
  const profileDir = process.env.BENCH_PROFILE;
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
  const [command, argv] = pinned(core, process.execPath, [...nodeFlags, ...profile, ...args]);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk) => {
      out += chunk;
      const match = /Herald listening on (http:\/\/[^"\s]+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`herald exited (${code}): ${out}`)));
  });
  if (profileDir) {
    mkdirSync(profileDir, { recursive: true });
    child.stdout?.pipe(createWriteStream(join(profileDir, `herald-${child.pid}.log`)));
  } else child.stdout?.resume();
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid as number,
    rssKb: () => rssOf(child.pid as number),
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** Resident memory of a process, in KiB (from /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** The load generator in its own process, pinned to `core`. */
export function startLoadGenerator(core: number): LoadGenerator {
  const script = `${ROOT}dist/bench/lib/load-generator.js`;
  const [command, argv] = pinned(core, process.execPath, [script]);
  const child = existsSync('/usr/bin/taskset')
    ? spawn(command, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new LoadGenerator(child);
}

/** IPC wrapper of `load-generator.ts`; every wait is bounded by a time cap. */
export class LoadGenerator {
  constructor(private readonly child: ChildProcess) {}

  /** Sends `command` and resolves with the reply named `event` (rejects on an error reply or after `capMs`). */
  request<T>(command: Record<string, unknown>, event: string, capMs = 180_000): Promise<T> {
    const reply = this.next<T>(event, capMs);
    this.child.send(command);
    return reply;
  }

  /** Resolves when the expected number of messages has arrived (call after `expect`), or null after `capMs`. */
  done(capMs: number): Promise<{ at: number; received: number; cpuMs: number } | null> {
    return this.next<{ at: number; received: number; cpuMs: number }>('done', capMs).catch(() => null);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.send({ cmd: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await once(this.child, 'exit');
    clearTimeout(timer);
  }

  private next<T>(event: string, capMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off('message', listener);
        reject(new Error(`load generator: no ${event} within ${capMs} ms`));
      }, capMs);
      const listener = (message: { event: string; message?: string } & T): void => {
        if (message.event !== event && message.event !== 'error') return;
        clearTimeout(timer);
        this.child.off('message', listener);
        if (message.event === 'error') reject(new Error(`load generator: ${message.message}`));
        else resolve(message);
      };
      this.child.on('message', listener);
    });
  }
}
