import type { Hub } from '../../core/hub.js';
import type { Backend, Log } from '../../core/ports.js';
import { LocalControl } from './control.js';
import { LocalPresence } from './presence.js';

/**
 * A single node's backend around `log`: presence read from the hub, server-side close on the hub. For
 * backends whose log no other node reads (memory, SQLite).
 */
export function localBackend(log: Log, hub: Hub): Backend {
  return {
    log,
    presence: new LocalPresence(hub),
    control: new LocalControl(hub),
    available: () => true,
    observe: () => {},
    close: () => log.close(),
  };
}
