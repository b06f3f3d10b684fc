import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually.js';

const NGINX = '/usr/sbin/nginx';

function nginxInstalled(): boolean {
  try {
    accessSync(NGINX, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

if (!nginxInstalled() && process.env.CI) throw new Error('nginx is required in CI (apt-get install nginx)');

/** `false` when nginx tests can run; otherwise why they are skipped (in CI a missing nginx fails, above). */
export const nginxSkip: string | false = nginxInstalled()
  ? false
  : `${NGINX} not found; install it with: apt-get install nginx`;

/** An nginx started by a test: one process, its files in a temporary directory. */
export interface NginxServer {
  /** What nginx wrote to its error log so far. */
  errors(): Promise<string>;
  /** Stops nginx (SIGTERM, by pid), waits for it, and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Runs `/usr/sbin/nginx` in the foreground as one process (`daemon off; master_process off;`) with `site`
 * as the whole of its `http` block, everything it writes in a temporary directory; resolves once every
 * port of `ports` accepts connections.
 */
export async function startNginx(site: string, ports: readonly number[]): Promise<NginxServer> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-nginx-'));
  const errorLog = join(dir, 'error.log');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `    ${kind}_temp_path ${join(dir, kind)};`)
    .join('\n');
  await writeFile(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${errorLog} info;
events { worker_connections 512; }
http {
    access_log off;
${temp}
${site}
}
`,
  );
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-e', errorLog, '-c', join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit');
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const errors = (): Promise<string> => readFile(errorLog, 'utf8').catch(() => '');
  try {
    await eventually(`nginx listening on ${ports.join(', ')}`, async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}${await errors()}`);
      for (const port of ports) if (!(await accepts(port))) return false;
      return true;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { errors, stop };
}

/** True when 127.0.0.1:`port` accepts a TCP connection. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
