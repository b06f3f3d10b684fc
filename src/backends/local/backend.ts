import type { GroupTables } from '../../core/groups.js';
import { AnnouncedGroups } from '../../core/groups.js';
import type { Hub } from '../../core/hub.js';
import { Inbox, type InboxTables } from '../../core/inbox.js';
import type { Backend, Log } from '../../core/ports.js';
import type { BackendOptions } from '../kind.js';
import { LocalControl } from './control.js';
import { LocalPresence } from './presence.js';
import { LocalPresenceFeed } from './presence-feed.js';

/** What a single node's backend keeps beside its log. */
export interface LocalStores {
  readonly inbox: InboxTables;
  readonly groups: GroupTables;
  /** Releases the stores (before the log closes). */
  readonly close?: () => void;
}

/**
 * A single node's backend around `log`: presence and its events read from the hub, server-side close on
 * the hub, and the inbox and group stores announced straight to the hub. For backends whose log no other
 * node reads (memory, SQLite).
 */
export function localBackend(
  log: Log,
  hub: Hub,
  stores: LocalStores,
  options: Pick<BackendOptions, 'now' | 'presenceDebounceMs' | 'presenceHistory'>,
): Backend {
  const presenceEvents = new LocalPresenceFeed(hub, {
    debounceMs: options.presenceDebounceMs,
    history: options.presenceHistory,
  });
  return {
    log,
    presence: new LocalPresence(hub),
    control: new LocalControl(hub),
    inbox: new Inbox(stores.inbox, {
      compare: (a, b) => log.comparePositions(a, b),
      now: options.now,
      head: () => log.head(),
      announce: (userId, unread) => hub.tellUnread(userId, unread),
    }),
    groups: new AnnouncedGroups(stores.groups, async (userId, groups) => hub.setServerGroups(userId, groups)),
    presenceEvents,
    available: () => true,
    observe: () => {},
    async close() {
      await presenceEvents.close();
      stores.close?.();
      await log.close();
    },
  };
}
