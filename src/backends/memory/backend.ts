import type { BackendKind } from '../kind.js';
import { localBackend } from '../local/backend.js';
import { MemoryGroupTables } from './groups.js';
import { MemoryInboxTables } from './inbox.js';
import { MemoryLog } from './log.js';

/** `--log memory`: the in-process ring buffer, with inboxes and groups in the process too, on one node. */
export const memoryBackend: BackendKind = {
  expected: 'memory',
  claims: (url) => url === 'memory',
  valid: () => true,
  async open(_url, options) {
    const inbox = new MemoryInboxTables({ now: options.now, maxTtlMs: options.inboxMaxTtlMs });
    const log = new MemoryLog({
      historySize: options.historySize,
      historyAgeMs: options.historyAgeMs,
      keep: (message) => inbox.keep(message),
    });
    const stores = { inbox, groups: new MemoryGroupTables(), close: () => inbox.close() };
    return { log, attach: (hub) => localBackend(log, hub, stores, options) };
  },
};
