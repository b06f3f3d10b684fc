import { inboxContract } from './inbox.contract.js';

inboxContract(
  'memory',
  { url: () => 'memory' },
  { restart: 'the memory backend forgets everything on restart by design, inboxes and groups included' },
);
