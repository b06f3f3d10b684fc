import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mintToken } from './auth/mint.js';
import { ConfigError, helpText, loadConfig, parseDuration } from './config.js';
import { StartupError } from './errors.js';
import { checkName } from './protocol/grammar.js';
import { createHerald } from './server.js';

const TOKEN_HELP = `Usage: herald token --sub <user> [--groups a,b] [--ttl 1h] [--publish]

Mints a development token (HS256) with the configured secret (--jwt-secret or HERALD_JWT_SECRET)
and prints it. Production backends mint their own tokens with any JWT library.

Options:
  --sub <user>      the user id (sub claim); required
  --groups <list>   comma-separated groups the token allows (groups claim)
  --ttl <duration>  lifetime such as 15m or 1h; default 1h
  --publish         adds "herald": {"publish": true}: the token may publish
  --admin           adds "herald": {"admin": true}: the admin API and dashboard (and publishing)
  --jwt-secret <s>  the secret; default HERALD_JWT_SECRET`;

/** `herald token`: prints a token minted with the configured secret; exit code 2 on bad input. */
export async function tokenCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const fail = (message: string): void => {
    process.stderr.write(`herald token: ${message}\n`);
    process.exitCode = 2;
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        sub: { type: 'string' },
        groups: { type: 'string' },
        ttl: { type: 'string' },
        publish: { type: 'boolean' },
        admin: { type: 'boolean' },
        'jwt-secret': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return fail((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help === true) {
    process.stdout.write(`${TOKEN_HELP}\n`);
    return;
  }
  const secret = (values['jwt-secret'] as string | undefined) ?? env.HERALD_JWT_SECRET;
  if (secret === undefined || secret === '') return fail('needs --jwt-secret or HERALD_JWT_SECRET');
  const sub = values.sub as string | undefined;
  const subProblem = checkName(sub, '--sub');
  if (sub === undefined || subProblem !== undefined) return fail(subProblem ?? '--sub is required');
  const groups =
    values.groups === undefined
      ? undefined
      : String(values.groups)
          .split(',')
          .map((g) => g.trim())
          .filter((g) => g !== '');
  for (const group of groups ?? []) {
    const problem = checkName(group, `group "${group}"`);
    if (problem !== undefined) return fail(problem);
  }
  const ttlMs = parseDuration(String(values.ttl ?? '1h'));
  if (ttlMs === undefined || ttlMs < 1000) return fail('--ttl expects a duration such as 15m or 1h');
  try {
    const token = await mintToken(secret, {
      sub,
      groups,
      ttlMs,
      publish: values.publish === true,
      admin: values.admin === true,
    });
    process.stdout.write(`${token}\n`);
  } catch (error) {
    fail((error as Error).message);
  }
}

/**
 * Reports why the node did not start and returns the exit code: 2 for a bad configuration and 1 for
 * surroundings that fail (one line each, as an operator reads them); anything else is a bug, shown with
 * its stack so that it can be reported.
 */
function exitOnStartFailure(error: unknown): number {
  if (error instanceof ConfigError) {
    process.stderr.write(`herald: ${error.message}\n`);
    return 2;
  }
  if (error instanceof StartupError) {
    process.stderr.write(`herald: ${error.message}\n`);
    return 1;
  }
  const shown = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`herald: failed to start (a bug; please report it with this output):\n${shown}\n`);
  return 1;
}

/** The version of the installed package (`package.json` at the package's root, beside `dist/`). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return String(manifest.version);
}

/** The `herald` command: parse options, start the node, stop cleanly on SIGTERM/SIGINT. */
export async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'token') return tokenCommand(argv.slice(1), process.env);
  if (argv.includes('--version')) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`herald: ${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  let herald: Awaited<ReturnType<typeof createHerald>>;
  try {
    herald = await createHerald(config);
  } catch (error) {
    process.exitCode = exitOnStartFailure(error);
    return;
  }
  const url = await herald.listen();
  herald.logger.info({ url, log: config.log, dev: config.dev }, `Herald listening on ${url}`);
  const stop = (signal: string): void => {
    herald.logger.info({ signal }, 'shutting down');
    // close() forces connections shut at the drain timeout; this bounds anything else that could hang.
    setTimeout(() => {
      herald.logger.error('shutdown overran the drain timeout; exiting');
      process.exit(1);
    }, config.drainTimeoutMs + 5000).unref();
    herald.close().then(
      () => process.exit(0),
      (error: unknown) => {
        herald.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
