import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativePath } from './native.js';

import { ROOT } from './root.js';

export { ROOT };

/** `taskset -c <core>` when available, so server and load generator each get one core. */
export function pinned(core: number, command: string, args: string[]): [string, string[]] {
  return existsSync('/usr/bin/taskset')
    ? ['/usr/bin/taskset', ['-c', String(core), command, ...args]]
    : [command, args];
}

/**
 * The Herald to measure: this checkout's, or `BENCH_HERALD` (another build's `bin/herald.js`, e.g. a
 * worktree of the commit before a change), so one run can set a change beside what it replaced.
 */
export function heraldBin(): string {
  return process.env.BENCH_HERALD ?? `${ROOT}bin/herald.js`;
}

/** A Herald node in its own process, pinned to `core`; resolves once it listens. */
export async function startHeraldProcess(
  core: number,
  extraArgs: string[] = [],
): Promise<{ url: string; port: number; pid: number; stop: () => Promise<void>; rssKb: () => number }> {
  const args = [
    heraldBin(),
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

/** CPU time (user + system) of a process and its descendants so far, in ms (from /proc; 10 ms ticks). */
export function cpuTreeMs(pid: number): number {
  let ticks = 0;
  const seen = new Set<number>();
  const visit = (p: number): void => {
    if (seen.has(p) || seen.size > 64) return;
    seen.add(p);
    try {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      for (const child of children === '' ? [] : children.split(' ')) visit(Number(child));
    } catch {}
  };
  visit(pid);
  return ticks * 10;
}

/** The C load generator (`bench/native/load-generator.c`) in its own process, pinned to `core`. */
export async function startLoadGenerator(core: number): Promise<LoadGenerator> {
  const [command, argv] = pinned(core, nativePath('load-generator'), []);
  const generator = new LoadGenerator(spawn(command, argv, { stdio: ['pipe', 'pipe', 'inherit'] }));
  await generator.next('ready', 5000);
  return generator;
}

/** A command's fields; arrays are sent comma-separated. No value may hold a space or a line break. */
export type GeneratorCommand = { readonly cmd: string } & Readonly<
  Record<string, string | number | readonly string[] | undefined>
>;

/** An answer of the load generator: a JSON line naming its event. */
type Answer = { readonly event: string; readonly message?: string } & Record<string, unknown>;

/**
 * Talks to the load generator: one command per line on its stdin, one JSON answer per line on its stdout.
 * Every wait is bounded by a time cap.
 */
export class LoadGenerator {
  private readonly listeners = new Set<(answer: Answer) => void>();
  private buffered = '';

  constructor(private readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        const answer = JSON.parse(line) as Answer;
        for (const listener of [...this.listeners]) listener(answer);
      }
    });
  }

  /** The generator's process id, for its CPU time. */
  get pid(): number {
    return this.child.pid as number;
  }

  /** Sends `command` and resolves with the answer named `event` (rejects on an error answer or after `capMs`). */
  request<T>(command: GeneratorCommand, event: string, capMs = 180_000): Promise<T> {
    const answer = this.next<T>(event, capMs);
    this.child.stdin?.write(`${LoadGenerator.line(command)}\n`);
    return answer;
  }

  /** Resolves when the expected number of messages has arrived (call after `expect`), or null after `capMs`. */
  done(capMs: number): Promise<{ at: number; received: number; cpuMs: number } | null> {
    return this.next<{ at: number; received: number; cpuMs: number }>('done', capMs).catch(() => null);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.stdin?.write('close\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await once(this.child, 'exit');
    clearTimeout(timer);
  }

  /** Resolves with the next answer named `event`; an `error` answer rejects. */
  next<T>(event: string, capMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`load generator: no ${event} within ${capMs} ms`));
      }, capMs);
      const listener = (answer: Answer): void => {
        if (answer.event !== event && answer.event !== 'error') return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (answer.event === 'error') reject(new Error(`load generator: ${answer.message}`));
        else resolve(answer as T);
      };
      this.listeners.add(listener);
    });
  }

  private static line(command: GeneratorCommand): string {
    const parts = [command.cmd];
    for (const [key, value] of Object.entries(command)) {
      if (key === 'cmd' || value === undefined) continue;
      const text = Array.isArray(value) ? value.join(',') : String(value);
      if (/[\s]/.test(text)) throw new Error(`load generator: ${key} holds a space or a line break`);
      parts.push(`${key}=${text}`);
    }
    return parts.join(' ');
  }
}
