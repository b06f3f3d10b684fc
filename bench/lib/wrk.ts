/**
 * wrk (`/usr/bin/wrk`, Debian's) as scenario C's publisher: one thread, N kept-alive connections each
 * with one request in flight, one message per request (`bench/native/unicast.lua`), pinned beside the
 * load generator. wrk measures request latency; the generator's subscribers measure delivery latency.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { WRK_SCRIPT } from './native.js';
import { pinned } from './processes.js';

const WRK = '/usr/bin/wrk';

/** What one wrk run reports (its script's `done`). */
export interface WrkResult {
  readonly requests: number;
  readonly ms: number;
  /** Socket errors (connect, read, write, timeout) and non-2xx/3xx answers. */
  readonly errors: number;
  readonly status: number;
  /** Request latency, ms. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** wrk's own CPU time (user + system), ms. */
  readonly cpuMs: number;
}

/** Undefined when wrk can run here; else why not. */
export const wrkUnavailable = (): string | undefined =>
  existsSync(WRK) ? undefined : 'wrk is not installed (apt-get install -y wrk)';

/** Runs wrk against `port` for `seconds` with `connections` in flight; bounded by wrk's own duration. */
export async function runWrk(options: {
  core: number;
  port: number;
  connections: number;
  seconds: number;
  users: number;
  style: 'herald' | 'nchan';
}): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '5s',
    '-s',
    WRK_SCRIPT,
    `http://127.0.0.1:${options.port}/`,
  ];
  const [command, argv] = pinned(options.core, WRK, args);
  const child = spawn(command, argv, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_USERS: String(options.users), BENCH_STYLE: options.style },
  });
  let out = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    out += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = /WRK_JSON (\{.*\})/.exec(out)?.[1];
  if (code !== 0 || line === undefined) throw new Error(`wrk exited (${code}): ${out.slice(-500)}`);
  const raw = JSON.parse(line) as Record<string, number>;
  const us = (value: number | undefined): number => (value ?? Number.NaN) / 1000;
  return {
    requests: raw.requests ?? 0,
    ms: us(raw.durationUs),
    errors: raw.errors ?? 0,
    status: raw.status ?? 0,
    p50: us(raw.p50),
    p99: us(raw.p99),
    max: us(raw.max),
    cpuMs: raw.cpuMs ?? Number.NaN,
  };
}
