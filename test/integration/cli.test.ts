import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { loadConfig, OPTIONS } from '../../src/config.js';
import { spawnHerald } from '../helpers/process.js';

const BIN = new URL('../../../bin/herald.js', import.meta.url).pathname;

/** Runs `herald` with args and env; resolves with exit code and output. */
async function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const [code] = await once(child, 'exit');
  return { code: code as number, out, err };
}

describe('the herald command', () => {
  test('--help lists every option with its flag and environment variable', async () => {
    const { code, out } = await run(['--help']);
    assert.equal(code, 0);
    for (const option of OPTIONS) {
      assert.ok(out.includes(`--${option.flag}`), `--${option.flag} in --help`);
      assert.ok(out.includes(option.env), `${option.env} in --help`);
    }
  });

  test('the README configuration table lists every option', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const option of OPTIONS) {
      const row = new RegExp(`\\|\\s*\`--${option.flag}\`\\s*\\|\\s*\`${option.env}\`\\s*\\|`);
      assert.match(readme, row, `--${option.flag} in README.md`);
    }
  });

  test('--version prints the version of the package', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'));
    const { code, out } = await run(['--version']);
    assert.equal(code, 0);
    assert.equal(out, `${version}\n`);
  });

  test('development mode listens on 127.0.0.1 only when no --host is given', async () => {
    const child = spawn(process.execPath, [BIN, '--dev', '--port', '0'], {
      env: { PATH: process.env.PATH, HERALD_LOG_LEVEL: 'info' },
    });
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          out += d;
          const match = /Herald listening on (http:\/\/[^"\s]+)/.exec(out);
          if (match?.[1]) resolve(match[1]);
        });
        child.once('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      const { hostname, port } = new URL(url);
      assert.equal(hostname, '127.0.0.1');
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      // Bound to 0.0.0.0 it would answer on every address of the machine, 127.0.0.2 too (Linux routes
      // all of 127/8 to loopback); bound to 127.0.0.1 only, a connection to 127.0.0.2 is refused.
      const refused = await new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.2', port: Number(port) });
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      assert.equal(refused, 'ECONNREFUSED');
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  test('--host or HERALD_HOST choose the address in development mode; production mode keeps 0.0.0.0', () => {
    assert.equal(loadConfig(['--dev'], {}).host, '127.0.0.1');
    assert.equal(loadConfig(['--dev', '--host', '0.0.0.0'], {}).host, '0.0.0.0');
    assert.equal(loadConfig(['--dev'], { HERALD_HOST: '::' }).host, '::');
    assert.equal(loadConfig([], { HERALD_DEV: '1' }).host, '127.0.0.1');
    assert.equal(loadConfig([], {}).host, '0.0.0.0');
  });

  test('a node started with --host 127.0.0.2 in development mode listens there', async () => {
    const node = await spawnHerald(['--host', '127.0.0.2']);
    try {
      assert.equal(new URL(node.url).hostname, '127.0.0.2');
      assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    } finally {
      await node.kill();
    }
  });

  test('a bad flag value stops the start with one line naming the option', async () => {
    const { code, err } = await run(['--dev', '--port', 'eighty']);
    assert.equal(code, 2);
    assert.equal(err.trim().split('\n').length, 1);
    assert.match(err, /--port/);
  });

  test('a bad environment value names the variable', async () => {
    const { code, err } = await run(['--dev'], { HERALD_HEARTBEAT: 'often' });
    assert.equal(code, 2);
    assert.match(err, /HERALD_HEARTBEAT/);
    assert.equal(err.trim().split('\n').length, 1);
  });

  test('a log that cannot be opened stops the start with exit 1 and one line naming it', async () => {
    const { code, err } = await run([
      '--dev',
      '--port',
      '0',
      '--log',
      'sqlite:/nonexistent-herald-dir/herald.db',
    ]);
    assert.equal(code, 1);
    assert.equal(err.trim().split('\n').length, 1, err);
    assert.match(err, /^herald: cannot open the SQLite log \/nonexistent-herald-dir\/herald\.db/);
  });

  test('production mode without a token key is a configuration error (exit 2)', async () => {
    const { code, err } = await run(['--port', '0']);
    assert.equal(code, 2);
    assert.match(err, /--jwt-secret/);
  });

  test('an unknown flag is refused with one line', async () => {
    const { code, err } = await run(['--dev', '--prot', '1']);
    assert.equal(code, 2);
    assert.match(err, /--prot/);
  });

  test('flags win over environment variables, and the node serves on the chosen port', async () => {
    const child = spawn(process.execPath, [BIN, '--dev', '--port', '0', '--host', '127.0.0.1'], {
      env: { PATH: process.env.PATH, HERALD_PORT: 'not-a-port-but-overridden', HERALD_LOG_LEVEL: 'info' },
    });
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          out += d;
          const match = /Herald listening on (http:\/\/[^"\s]+)/.exec(out);
          if (match?.[1]) resolve(match[1]);
        });
        child.once('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      const response = await fetch(`${url}/healthz`);
      assert.equal(response.status, 200);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});
