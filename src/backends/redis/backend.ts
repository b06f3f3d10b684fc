import { StartupError } from '../../errors.js';
import type { BackendKind } from '../kind.js';
import { redact } from '../redact.js';
import { claimsRedisUrl, REDIS_URL_FORMS, redisUrlValid } from './connection.js';
import { ClusterControl } from './control.js';
import { RedisLog } from './log.js';
import { RedisNodeDirectory } from './node-directory.js';
import { RedisPresence } from './presence.js';

/**
 * `--log redis://…` (or `rediss://`, or `redis+sentinel://`: see `connection.ts`): a cluster on one Redis.
 * The log is a stream every node tails; presence, server-side close and the dashboard's node figures are
 * the cluster's, on the log's command connection.
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
        return {
          log,
          presence,
          control,
          directory,
          available: () => log.available,
          observe: (message) => control.observe(message),
          async close() {
            await directory.close();
            await presence.close();
            await log.close();
          },
        };
      },
    };
  },
};
