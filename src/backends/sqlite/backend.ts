import type { BackendKind } from '../kind.js';
import { localBackend } from '../local/backend.js';
import { SqliteLog } from './log.js';

const SCHEME = 'sqlite:';

/** `--log sqlite:<path>`: one durable file, on one node. */
export const sqliteBackend: BackendKind = {
  expected: `${SCHEME}<path>`,
  claims: (url) => url.startsWith(SCHEME),
  valid: (url) => url.length > SCHEME.length,
  async open(url, options) {
    const { logger } = options;
    const log = new SqliteLog({
      historySize: options.historySize,
      historyAgeMs: options.historyAgeMs,
      path: url.slice(SCHEME.length),
      onPruneEvent: (event) => {
        if (event.kind === 'failing')
          logger.warn(
            { err: event.error },
            'cannot prune the SQLite log; retrying, the file grows meanwhile',
          );
        else logger.info('pruning the SQLite log works again');
      },
    });
    return { log, attach: (hub) => ({ ...localBackend(log, hub), backup: (path) => log.backup(path) }) };
  },
};
