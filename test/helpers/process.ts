import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** `bin/herald.js` of this checkout. */
export const HERALD_BIN = fileURLToPath(new URL('../../../bin/herald.js', import.meta.url));

/** A Herald node running as a child process (so a test can kill it for real). */
export interface HeraldProcess {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** Sends `signal` to this process (by pid) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `bin/herald.js` on 127.0.0.1 with `args` (in development mode unless `dev` is false), on a free
 * port unless `args` name one; resolves once it listens. `command`: an installed `herald` to run instead,
 * as a shell would (its `#!/usr/bin/env node` line picks the first `node` on `PATH`).
 */
export async function spawnHerald(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  { dev = true, command }: { dev?: boolean; command?: string } = {},
): Promise<HeraldProcess> {
  const port = args.includes('--port') ? [] : ['--port', '0'];
  const heraldArgs = [
    ...(dev ? ['--dev'] : []),
    '--host',
    '127.0.0.1',
    ...port,
    '--log-level',
    'info',
    ...args,
  ];
  const child = spawn(
    command ?? process.execPath,
    command === undefined ? [HERALD_BIN, ...heraldArgs] : heraldArgs,
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  const exited = once(child, 'exit').then(() => {});
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: string): void => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        try {
          const entry = JSON.parse(line) as { url?: string; msg?: string };
          if (entry.url !== undefined && entry.msg?.startsWith('Herald listening')) {
            child.stdout?.off('data', onData);
            child.stdout?.resume();
            resolve(entry.url);
            return;
          }
        } catch {}
      }
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    void exited.then(() => reject(new Error(`herald exited before listening: ${stderr}`)));
  });
  const pid = child.pid as number;
  return {
    url,
    pid,
    child,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, signal);
      await exited;
    },
  };
}
