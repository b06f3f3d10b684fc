import { AnnouncedGroups } from '../../core/groups.js';
import { Inbox } from '../../core/inbox.js';
import { StartupError } from '../../errors.js';
import type { BackendKind } from '../kind.js';
import { redact } from '../redact.js';
import { claimsRedisUrl, REDIS_URL_FORMS, redisUrlValid } from './connection.js';
import { ClusterControl } from './control.js';
import { RedisGroupTables } from './groups.js';
import { RedisInboxTables } from './inbox.js';
import { RedisLog } from './log.js';
import { RedisNodeDirectory } from './node-directory.js';
import { RedisPresence } from './presence.js';
import { RedisPresenceFeed } from './presence-feed.js';
import { UserNotices } from './user-notices.js';

/**
 * `--log redis://…` (or `rediss://`, or `redis+sentinel://`: see `connection.ts`): a cluster on one Redis.
 * The log is a stream every node tails; presence and its events, server-side close, inboxes, server-side
 * groups and the dashboard's node figures are the cluster's, on the log's command connection.
 */
export const redisBackend: BackendKind = {
  expected: REDIS_URL_FORMS,
  claims: claimsRedisUrl,
  valid: redisUrlValid,
  async open(url, options) {
    const { logger, keyPrefix: prefix, nodeId, presenceTtlMs: ttlMs } = options;
    let log: RedisLog;
    try {
      log = await RedisLog.connect({
        historySize: options.historySize,
        historyAgeMs: options.historyAgeMs,
        url,
        prefix,
        onTailEvent: (event) => {
          if (event.kind === 'lost')
            logger.warn({ err: event.error }, 'lost Redis; tailing retries with backoff');
          else if (event.kind === 'resumed')
            logger.info({ after: event.after }, 'Redis is back; tailing resumed');
          else if (event.kind === 'rolled-back')
            logger.warn(
              { epoch: event.epoch, missing: event.missing },
              'Redis lost messages it had accepted (a failover to a replica that was behind?); clients are told of a gap',
            );
          else logger.warn({ epoch: event.epoch }, 'Redis lost its history; older ids now get a gap');
        },
      });
    } catch (error) {
      throw new StartupError(`${(error as Error).message} (${redact(url)})`);
    }
    return {
      log,
      attach(hub) {
        const presence = new RedisPresence(log.redis, hub, {
          prefix,
          nodeId,
          ttlMs,
          onError: (error) => logger.debug({ err: error }, 'presence not written to Redis'),
        });
        const control = new ClusterControl(log, hub, presence);
        const directory = new RedisNodeDirectory(log.redis, {
          prefix,
          nodeId,
          ttlMs,
          onError: (error) => logger.debug({ err: error }, 'node figures not shared'),
        });
        const notices = new UserNotices(log, log.redis, hub, prefix, (error) =>
          logger.debug({ err: error }, 'inbox counts not shared'),
        );
        const inbox = new Inbox(
          new RedisInboxTables(log.redis, {
            inboxPrefix: log.inboxPrefix,
            epochKey: log.epochKeyName,
            maxTtlMs: options.inboxMaxTtlMs,
          }),
          {
            compare: (a, b) => log.comparePositions(a, b),
            now: options.now,
            head: () => log.head(),
            announce: (userId, unread) => notices.unread(userId, unread),
          },
        );
        const groups = new AnnouncedGroups(new RedisGroupTables(log.redis, prefix), (userId, after) =>
          notices.groupsChanged(userId, after),
        );
        const presenceEvents = new RedisPresenceFeed(log.redis, {
          prefix,
          debounceMs: options.presenceDebounceMs,
          history: options.presenceHistory,
          onError: (error) => logger.debug({ err: error }, 'presence events not read'),
        });
        return {
          log,
          presence,
          control,
          inbox,
          groups,
          presenceEvents,
          directory,
          available: () => log.available,
          observe: (message) => {
            control.observe(message);
            notices.observe(message);
          },
          async close() {
            await directory.close();
            await presenceEvents.close();
            await presence.close();
            await notices.close();
            await log.close();
          },
        };
      },
    };
  },
};
