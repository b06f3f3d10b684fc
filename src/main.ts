import { ConfigError, helpText, loadConfig } from './config.js';
import { createHerald } from './server.js';

/** The `herald` command: parse options, start the node, stop cleanly on SIGTERM/SIGINT. */
export async function main(argv: readonly string[]): Promise<void> {
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
    process.stderr.write(`herald: ${(error as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const url = await herald.listen();
  herald.logger.info({ url, log: config.log, dev: config.dev }, `Herald listening on ${url}`);
  const stop = (signal: string): void => {
    herald.logger.info({ signal }, 'shutting down');
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
