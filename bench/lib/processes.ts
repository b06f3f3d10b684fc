import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';

/** The project root (bench files run from dist/bench/...). */
export const ROOT = new URL('../../../', import.meta.url).pathname;

/** `taskset -c <core>` when available, so server and load generator each get one core. */
function pinned(core: number, command: string, args: string[]): [string, string[]] {
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
  const [command, argv] = pinned(core, process.execPath, args);
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
  child.stdout?.resume();
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

/** IPC wrapper of `load-generator.ts`. */
export class LoadGenerator {
  constructor(private readonly child: ChildProcess) {}

  request<T>(command: Record<string, unknown>, event: string): Promise<T> {
    return new Promise((resolve) => {
      const listener = (message: { event: string } & T): void => {
        if (message.event !== event) return;
        this.child.off('message', listener);
        resolve(message);
      };
      this.child.on('message', listener);
      this.child.send(command);
    });
  }

  /** Resolves when the expected number of messages has arrived (call after `expect`). */
  done(): Promise<{ at: number; received: number }> {
    return new Promise((resolve) => {
      const listener = (message: { event: string; at: number; received: number }): void => {
        if (message.event !== 'done') return;
        this.child.off('message', listener);
        resolve(message);
      };
      this.child.on('message', listener);
    });
  }

  async close(): Promise<void> {
    this.child.send({ cmd: 'close' });
    if (this.child.exitCode === null) await once(this.child, 'exit');
  }
}
