import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inboxContract } from './inbox.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-inbox-contract-'));
let files = 0;

inboxContract('sqlite', {
  url: () => `sqlite:${join(dir, `inbox-${++files}.db`)}`,
  async cleanup() {
    rmSync(dir, { recursive: true, force: true });
  },
});
