import type { BackendKind } from '../kind.js';
import { localBackend } from '../local/backend.js';
import { MemoryLog } from './log.js';

/** `--log memory`: the in-process ring buffer, on one node. */
export const memoryBackend: BackendKind = {
  expected: 'memory',
  claims: (url) => url === 'memory',
  valid: () => true,
  async open(_url, options) {
    const log = new MemoryLog({ historySize: options.historySize, historyAgeMs: options.historyAgeMs });
    return { log, attach: (hub) => localBackend(log, hub) };
  },
};
