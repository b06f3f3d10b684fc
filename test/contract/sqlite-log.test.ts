import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteLog } from '../../src/backends/sqlite/log.js';
import { logContract } from './log.contract.js';

const dir = await mkdtemp(join(tmpdir(), 'herald-sqlite-contract-'));
let files = 0;

logContract('sqlite', {
  async open(options) {
    const path = join(dir, `log-${++files}.db`);
    const log = new SqliteLog({ ...options, path });
    return {
      log,
      async reopen() {
        await log.close();
        return new SqliteLog({ ...options, path });
      },
      async pruneNow() {
        await log.prune();
      },
    };
  },
  async cleanup() {
    await rm(dir, { recursive: true, force: true });
  },
});
