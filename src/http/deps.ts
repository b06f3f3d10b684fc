import type { GroupStore } from '../core/groups.js';
import type { Hub } from '../core/hub.js';
import type { InboxStore } from '../core/inbox.js';
import type { ConnectionControl, Log, Presence } from '../core/ports.js';
import type { PresenceFeed } from '../core/presence-events.js';
import type { StreamOpener } from '../transport/streams.js';
import type { IdentityProvider } from './identity.js';
import type { PublishRateLimiter } from './limits.js';
import type { StreamGuard } from './stream-guard.js';

/** What the HTTP routes work with; built by the composition root. */
export interface HttpDeps {
  readonly hub: Hub;
  readonly log: Log;
  readonly presence: Presence;
  /** Server-side close of a user's connections (every node's, when clustered). */
  readonly control: ConnectionControl;
  readonly streams: StreamOpener;
  readonly identity: IdentityProvider;
  /** Opens streams under the connection limits and token expiry; routes open streams through it. */
  readonly guard: StreamGuard;
  /** Publish rate limit per publisher; charged with the number of messages. */
  readonly publishRate: PublishRateLimiter;
  /** Users' inboxes (`ttl` messages). */
  readonly inbox: InboxStore;
  /** Users' server-side groups. */
  readonly groups: GroupStore;
  /** Presence events, for `GET /presence/events`. */
  readonly presenceEvents: PresenceFeed;
  /** `--inbox-max-ttl`: the longest `ttl` a publish may ask for. */
  readonly inboxMaxTtlMs: number;
}
