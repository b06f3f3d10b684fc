import { MemoryLog } from '../../src/backends/memory/log.js';
import { logContract } from './log.contract.js';

logContract(
  'memory',
  {
    async open(options) {
      const log = new MemoryLog(options);
      return {
        log,
        async reopen() {
          await log.close();
          return new MemoryLog(options);
        },
      };
    },
  },
  { restart: 'the in-memory log forgets everything on restart by design (an old id is then a gap)' },
);
