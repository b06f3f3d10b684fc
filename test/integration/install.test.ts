import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bearer } from '../helpers/auth.js';
import { eventually } from '../helpers/eventually.js';
import { spawnHerald } from '../helpers/process.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGE = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const SECRET = 'install-test-secret-0123456789abcdef01234567';
const PUBLISH_KEY = 'install-test-publish-key';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment of a user's shell: without the `npm_*` variables `npm test` gives its scripts (they
 * would steer the npm run here), and with this test's `node` first on `PATH`, where an installed
 * command's `#!/usr/bin/env node` finds it.
 */
function shellEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return { ...env, PATH: `${dirname(process.execPath)}${delimiter}${env.PATH ?? ''}`, ...extra };
}

/** Runs a command to its end (two minutes at most) and resolves with its exit code and output. */
function run(command: string, args: readonly string[], cwd: string, env = shellEnv()): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, timeout: 120_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port free on 127.0.0.1 now (the README's commands name their port, so the test picks one). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** The shell blocks of the README's section `heading`, in order. */
function shellBlocks(readme: string, heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README.md has a "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

/**
 * A shell a test types into, block by block, as a reader pastes the README into a terminal: `paste`
 * resolves with what the block printed once it has run.
 */
class Terminal {
  private readonly shell: ChildProcessWithoutNullStreams;
  private output = '';
  private blocks = 0;

  constructor(env: NodeJS.ProcessEnv, cwd: string) {
    this.shell = spawn('bash', [], { cwd, env, stdio: 'pipe' });
    this.shell.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk;
    });
    this.shell.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk;
    });
  }

  async paste(block: string): Promise<string> {
    const marker = `__block_${++this.blocks}_done__`;
    const from = this.output.length;
    this.shell.stdin.write(`${block}\necho ${marker}\n`);
    await eventually(
      `the shell to run block ${this.blocks}`,
      () => this.output.includes(`${marker}\n`),
      60_000,
    );
    return this.output.slice(from, this.output.indexOf(`${marker}\n`, from));
  }

  async exit(): Promise<void> {
    if (this.shell.exitCode !== null) return;
    const exited = once(this.shell, 'exit');
    this.shell.stdin.end('exit\n');
    await exited;
  }
}

describe('Herald installed from its tarball (npm pack, npm install -g)', () => {
  let dir: string;
  let tarball: string;
  let packed: { files: { path: string }[] };
  let installed: Run;
  let herald: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-install-'));
    // No scripts: `prepack` builds dist/, which `npm test` has just built and this test runs from.
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
    assert.equal(pack.code, 0, pack.stderr);
    const [entry] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    assert.ok(entry !== undefined);
    packed = entry;
    tarball = join(dir, entry.filename);
    // What a user runs, into a scratch prefix. Offline: the package carries its runtime dependencies, so
    // nothing is fetched. Without optional dependencies: the optional SQLite driver is the one thing a
    // real install fetches and compiles (network, minutes); this test runs the memory log.
    const prefix = join(dir, 'prefix');
    installed = await run(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        '--offline',
        '--omit=optional',
        '--no-audit',
        '--no-fund',
        tarball,
      ],
      dir,
    );
    herald = join(prefix, 'bin', 'herald');
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('the tarball holds the built server, client, publisher, pages, LICENSE and CHANGELOG, and no sources or tests', () => {
    const paths = new Set(packed.files.map((file) => file.path));
    for (const path of [
      'bin/herald.js',
      'dist/src/main.js',
      'client/dist/herald.js',
      'client/dist/types/client/src/index.d.ts',
      'dist/src/publisher/index.js',
      'dist/src/publisher/index.d.ts',
      'web/index.html',
      'web/admin/index.html',
      'web/admin/admin.js',
      'LICENSE',
      'CHANGELOG.md',
      'README.md',
    ])
      assert.ok(paths.has(path), `${path} in the tarball`);
    const stray = [...paths].filter((path) => /^(src|test|bench|dist\/test|dist\/bench)\//.test(path));
    assert.deepEqual(stray, [], 'sources and tests stay out of the tarball');
  });

  test('installs offline with no engine warning and no install script of its own', () => {
    const output = installed.stdout + installed.stderr;
    assert.equal(installed.code, 0, output);
    assert.doesNotMatch(output, /EBADENGINE/);
    assert.doesNotMatch(output, /herald-push@[^ ]* \((prepare|install|postinstall)/, 'no build on install');
  });

  test('herald --version prints the package version', async () => {
    const version = await run(herald, ['--version'], dir);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `${PACKAGE.version}\n`);
  });

  test('herald --help prints the usage and every option', async () => {
    const help = await run(herald, ['--help'], dir);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: herald \[options\]/);
    for (const flag of ['--jwt-secret', '--publish-key', '--admin-key', '--version'])
      assert.ok(help.stdout.includes(flag));
  });

  test('herald in production mode, keys from the environment, serves health, pages, tokens and messages', async () => {
    const env = { HERALD_JWT_SECRET: SECRET, HERALD_PUBLISH_KEY: PUBLISH_KEY };
    const node = await spawnHerald([], shellEnv(env), { dev: false, command: herald });
    try {
      const health = await fetch(`${node.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      for (const [path, text] of [
        ['/', 'Herald demo'],
        ['/admin/', 'Herald admin'],
        ['/herald.js', 'export'],
      ] as const) {
        const page = await fetch(`${node.url}${path}`);
        assert.equal(page.status, 200, path);
        assert.ok((await page.text()).includes(text), `${path} shows ${text}`);
      }
      // A token from the installed `herald token`, with the same secret, opens a stream.
      const minted = await run(herald, ['token', '--sub', 'alice'], dir, shellEnv(env));
      assert.equal(minted.code, 0, minted.stderr);
      const stream = await openSse(`${node.url}/events`, bearer(minted.stdout.trim()));
      try {
        await stream.waitFor(1);
        const published = await fetch(`${node.url}/messages`, {
          method: 'POST',
          headers: { ...bearer(PUBLISH_KEY), 'content-type': 'application/json' },
          body: JSON.stringify({ to: { users: ['alice'] }, data: 'from the installed herald' }),
        });
        assert.equal(published.status, 202);
        assert.equal((await stream.waitFor(1, isMessage))[0]?.data, 'from the installed herald');
      } finally {
        stream.close();
      }
    } finally {
      await node.kill();
    }
  });

  test('an app that installs the package imports herald-push/client, with its types', async () => {
    const app = join(dir, 'app');
    await mkdir(app);
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    const install = await run(
      'npm',
      ['install', '--offline', '--omit=optional', '--no-audit', '--no-fund', tarball],
      app,
    );
    assert.equal(install.code, 0, install.stderr);
    await writeFile(
      join(app, 'main.ts'),
      [
        "import { connect, type HeraldMessage } from 'herald-push/client';",
        'const texts: string[] = [];',
        "const client = connect('http://127.0.0.1:9/', { user: 'alice', shared: false });",
        "client.on('message', (m: HeraldMessage) => texts.push(String(m.data) + m.groups.join()));",
        'client.close();',
        'console.log(typeof connect, client.state, texts.length);',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'dom'],
          types: [],
          strict: true,
          outDir: 'out',
        },
        files: ['main.ts'],
      }),
    );
    // The project's own TypeScript: the app checks against the types the package ships.
    const compiled = await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', app], app);
    assert.equal(compiled.code, 0, compiled.stdout + compiled.stderr);
    const ran = await run(process.execPath, [join(app, 'out', 'main.js')], app);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'function closed 0\n');
  });

  test("the README's production quick start works as written with the installed herald", async (t) => {
    const tools = await run(
      'sh',
      ['-c', 'for tool in bash curl openssl; do command -v "$tool" || exit 1; done'],
      dir,
    );
    if (tools.code !== 0) {
      // CI installs them (.ci/run): nothing may be skipped there.
      if (process.env.CI) assert.fail(`bash, curl and openssl are needed; found: ${tools.stdout}`);
      t.skip('bash, curl and openssl are needed to run the README: apt-get install curl openssl');
      return;
    }
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const port = await freePort();
    // The README names port 8080; the test runs it on a free one, on loopback.
    const blocks = shellBlocks(readme, 'Production quick start').map((block) =>
      block.replaceAll('localhost:8080', `localhost:${port}`),
    );
    assert.equal(blocks.length, 4, 'keys and start, a token, a publish, the admin key');
    const [start, token, publish, adminKey] = blocks as [string, string, string, string];
    const terminal = new Terminal(
      shellEnv({
        PATH: `${dirname(herald)}${delimiter}${shellEnv().PATH}`,
        HERALD_PORT: String(port),
        HERALD_HOST: '127.0.0.1',
        HERALD_LOG_LEVEL: 'warn',
      }),
      dir,
    );
    let heraldPid: number | undefined;
    try {
      assert.match(await terminal.paste(start), /\{"status":"ready"\}/);
      heraldPid = Number((await terminal.paste('echo "$!"')).trim());
      const base = `http://127.0.0.1:${port}`;
      const jwt = (await terminal.paste(token)).trim();
      assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'herald token prints one token');
      const stream = await openSse(`${base}/events`, bearer(jwt));
      try {
        await stream.waitFor(1);
        assert.match(await terminal.paste(publish), /\{"id":"[^"]+"\}/);
        assert.equal((await stream.waitFor(1, isMessage))[0]?.data, 'hello alice');
      } finally {
        stream.close();
      }
      const key = (await terminal.paste(adminKey)).trim();
      assert.equal((await fetch(`${base}/admin/api/stats`, { headers: bearer(key) })).status, 200);
      assert.equal((await fetch(`${base}/admin/`)).status, 200);
    } finally {
      await terminal.exit();
      if (heraldPid !== undefined && heraldPid > 0) {
        try {
          process.kill(heraldPid, 'SIGTERM');
        } catch {}
        await eventually('the README herald to stop', () => !isAlive(heraldPid as number));
      }
    }
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The packages of the first `apt-get install` in `text`, across `\` line continuations, options left out. */
function aptPackages(text: string): string[] {
  const command = /apt-get install((?:[^\n]*\\\n)*[^\n]*)/.exec(text)?.[1];
  assert.ok(command !== undefined, 'an apt-get install line');
  return command
    .replace(/>\S*/g, '')
    .split(/[\s\\]+/)
    .filter((word) => word !== '' && !word.startsWith('-'))
    .sort();
}

test("the README's Debian packages for npm test are the ones .ci/run installs", async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const ci = await readFile(join(ROOT, '.ci/run'), 'utf8');
  assert.deepEqual(aptPackages(shellBlocks(readme, 'Quick start').join('\n')), aptPackages(ci));
});
