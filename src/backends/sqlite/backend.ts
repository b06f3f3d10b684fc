import type { BackendKind } from '../kind.js';
import { localBackend } from '../local/backend.js';
import { SqliteGroupTables } from './groups.js';
import { SqliteInboxTables } from './inbox.js';
import { SqliteLog } from './log.js';

const SCHEME = 'sqlite:';

/** `--log sqlite:<path>`: one durable file (log, inboxes, groups), on one node. */
export const sqliteBackend: BackendKind = {
  expected: `${SCHEME}<path>`,
  claims: (url) => url.startsWith(SCHEME),
  valid: (url) => url.length > SCHEME.length,
  async open(url, options) {
    const { logger } = options;
    let inbox: SqliteInboxTables | undefined;
    let groups: SqliteGroupTables | undefined;
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
      keeper: (db, epoch) => {
        groups = new SqliteGroupTables(db);
        inbox = new SqliteInboxTables(db, { epoch, now: options.now, maxTtlMs: options.inboxMaxTtlMs });
        return inbox;
      },
    });
    const tables = inbox as SqliteInboxTables;
    const stores = { inbox: tables, groups: groups as SqliteGroupTables, close: () => tables.close() };
    return {
      log,
      attach: (hub) => ({ ...localBackend(log, hub, stores, options), backup: (path) => log.backup(path) }),
    };
  },
};
