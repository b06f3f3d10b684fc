/**
 * Instructions per connection, counted by `valgrind --tool=callgrind` (user space only: what Herald's and
 * Node's code execute, not the kernel's TCP work): repeatable whatever else the machine runs, where CPU
 * time on a shared VM is not. Each server runs twice under callgrind (`node --single-threaded`, so GC and
 * compiler threads count in the same total), once opening and closing `small` connections and once
 * `large`, each after a warm-up of `small`; the difference divided by `large - small` is the cost of one
 * connection opened and closed, start-up and warm-up cancelled out.
 *
 *   npm run build && node dist/bench/connect-instructions.js [small] [large]    # default 1000 3000
 *   BENCH_HERALD=/path/to/other/checkout/bin/herald.js BENCH_ONLY=herald node dist/bench/connect-instructions.js
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { buildNative } from './lib/native.js';
import { cpuTreeMs, heraldBin, ROOT, startLoadGenerator } from './lib/processes.js';
import type { Connected } from './scenarios/connect.js';
import { SOURCES, sleep } from './scenarios/context.js';

const small = Number(process.argv[2] ?? 1000);
const large = Number(process.argv[3] ?? 3000);
const HERALD = [heraldBin(), '--dev', '--host', '127.0.0.1', '--port', '0', '--heartbeat', '0'];
const LIMITS_OFF = [
  '--max-connections',
  '0',
  '--max-connections-per-ip',
  '0',
  '--max-connections-per-user',
  '0',
];
const SERVERS: Record<string, { args: string[]; env: Record<string, string>; listening: RegExp }> = {
  herald: {
    args: [...HERALD, ...LIMITS_OFF],
    env: {},
    listening: /Herald listening on http:\/\/[^:]+:(\d+)/,
  },
  'node-http-ref': {
    args: [`${ROOT}bench/peers/node-http-ref.mjs`],
    env: { PORT: '0' },
    listening: /listening (\d+)/,
  },
};
const only = (process.env.BENCH_ONLY ?? 'herald,node-http-ref').split(',');

/** Total instructions of one server run that opens and closes `warm` then `count` connections. */
async function instructions(name: string, warm: number, count: number): Promise<number> {
  const server = SERVERS[name] as (typeof SERVERS)[string];
  const out = `/tmp/herald-callgrind-${process.pid}-${name}-${count}.out`;
  const child = spawn(
    'taskset',
    [
      '-c',
      '0',
      'valgrind',
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      process.execPath,
      '--single-threaded',
      ...server.args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...server.env } },
  );
  let text = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const match = server.listening.exec(text);
      if (match) resolve(Number(match[1]));
    });
    child.stderr.resume();
    child.once('exit', (code) => reject(new Error(`${name} exited (${code})`)));
  });
  const generator = await startLoadGenerator(1);
  try {
    for (const n of [warm, count]) {
      await generator.request<Connected>(
        { cmd: 'connect', port, count: n, mode: 'sse', path: '/events?user=u{i}', sources: SOURCES },
        'connected',
        600_000,
      );
      await generator.request({ cmd: 'disconnect' }, 'disconnected', 600_000);
      await idle(child.pid as number);
    }
  } finally {
    await generator.close();
  }
  child.kill('SIGTERM');
  await once(child, 'exit');
  const summary = /^summary:\s+(\d+)/m.exec(readFileSync(out, 'utf8'))?.[1];
  rmSync(out, { force: true });
  return Number(summary);
}

/** Resolves once `pid` used no CPU for a second (it has handled every close), or after two minutes. */
async function idle(pid: number): Promise<void> {
  let last = cpuTreeMs(pid);
  for (let quiet = 0, waited = 0; quiet < 2 && waited < 120_000; waited += 500) {
    await sleep(500);
    const now = cpuTreeMs(pid);
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
}

buildNative();
for (const name of only) {
  const a = await instructions(name, small, small);
  const b = await instructions(name, small, large);
  console.log(
    `${name.padEnd(14)} instructions per connection (open + close): ${Math.round((b - a) / (large - small))}`,
  );
}
