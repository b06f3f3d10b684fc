import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bearer, tokenFor } from '../helpers/auth.js';
import { startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

/** `examples/` of this checkout. */
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** Text that needs escaping in JSON and UTF-8 on the wire. */
const TEXT = 'Grüße, 世界: "shipped" \\ done\ttoday';

/** Longest one example may take, compiling included (Java's single-file launch compiles first). */
const RUN_TIMEOUT_MS = 60_000;

interface Example {
  readonly name: string;
  readonly command: string;
  readonly script: string;
  /** A command that succeeds when the runtime (and what the example needs of it) is installed. */
  readonly probe: readonly string[];
  /** Debian packages that provide it (`.ci/run` installs them). */
  readonly packages: string;
}

const EXAMPLE_RUNS: readonly Example[] = [
  {
    name: 'Java (java.net.http, single-file launch)',
    command: 'java',
    script: 'java/Publish.java',
    probe: ['java', '-version'],
    packages: 'default-jdk-headless',
  },
  {
    name: 'Python (standard library only)',
    command: 'python3',
    script: 'python/publish.py',
    probe: ['python3', '--version'],
    packages: 'python3',
  },
  {
    name: 'PHP (curl)',
    command: 'php',
    script: 'php/publish.php',
    probe: ['php', '-r', 'exit(function_exists("curl_init") ? 0 : 1);'],
    packages: 'php-cli php-curl',
  },
];

/** Why the runtime cannot run here, or undefined when it can. */
function missingRuntime(example: Example): string | undefined {
  const [command, ...args] = example.probe as [string, ...string[]];
  const probe = spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 });
  if (probe.status === 0) return undefined;
  return `${example.command} is not installed (apt-get install ${example.packages})`;
}

/** The URL of a loopback port that was free a moment ago and is closed now: nothing answers there. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs an example to its end (bounded by `RUN_TIMEOUT_MS`) with Herald's URL and a secret. */
function runExample(example: Example, args: readonly string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      example.command,
      [`${EXAMPLES}${example.script}`, ...args],
      { env: { ...process.env, ...env }, timeout: RUN_TIMEOUT_MS, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('examples/ publish from other languages to a live Herald with an HS256 token they mint', () => {
  let node: TestHerald;
  before(async () => {
    // Production mode: the examples hold only the JWT secret, so they must mint a valid publisher token.
    node = await startSecureHerald();
  });
  after(() => node.close());

  for (const example of EXAMPLE_RUNS) {
    const missing = missingRuntime(example);
    // Locally a missing runtime skips, saying what to install; in CI it fails, so nothing goes untested.
    const skip = missing !== undefined && process.env.CI !== 'true' ? missing : false;
    const user = `${example.command}-reader`;

    describe(example.name, () => {
      test(`${example.script} publishes a message that a subscriber receives`, { skip }, async () => {
        assert.equal(missing, undefined, missing);
        const stream = await openSse(`${node.url}/events`, bearer(await tokenFor(user)));
        try {
          assert.equal(stream.status, 200);
          await stream.waitFor(1, (e) => e.event === 'connected');
          const run = await runExample(example, [user, TEXT], {
            HERALD_URL: node.url,
            HERALD_JWT_SECRET: TEST_KEYS.jwtSecret,
          });
          assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
          const id = run.stdout.trim();
          assert.match(id, /^\d/, 'prints the id Herald assigned');
          const [received] = await stream.waitFor(1, isMessage);
          assert.equal(received?.event, 'notice');
          assert.equal(received?.id, id);
          assert.deepEqual(JSON.parse(received?.data ?? ''), { text: TEXT });
        } finally {
          stream.close();
        }
      });

      test(`${example.script} reports Herald's problem detail and exits 1 when the token is refused`, {
        skip,
      }, async () => {
        assert.equal(missing, undefined, missing);
        const run = await runExample(example, [user, 'never delivered'], {
          HERALD_URL: node.url,
          HERALD_JWT_SECRET: 'not-the-secret-herald-verifies-tokens-with',
        });
        assert.equal(run.code, 1, `exit ${run.code}: ${run.stdout}${run.stderr}`);
        assert.equal(run.stdout, '');
        assert.equal(run.stderr.trim(), 'herald: 401 the token signature does not verify');
      });

      test(`${example.script} says Herald cannot be reached and exits 1 when nothing listens`, {
        skip,
      }, async () => {
        assert.equal(missing, undefined, missing);
        const url = await closedPortUrl();
        const run = await runExample(example, [user, 'never delivered'], {
          HERALD_URL: url,
          HERALD_JWT_SECRET: TEST_KEYS.jwtSecret,
        });
        assert.equal(run.code, 1, `exit ${run.code}: ${run.stdout}${run.stderr}`);
        assert.equal(run.stdout, '');
        assert.ok(run.stderr.startsWith(`herald: cannot reach ${url} (`), run.stderr);
        assert.equal(run.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
      });
    });
  }
});
