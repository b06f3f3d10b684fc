import { StartupError } from '../../errors.js';
import type { BackendKind } from '../kind.js';
import { redact } from '../redact.js';
import { ClusterControl } from './control.js';
import { RedisLog } from './log.js';
import { RedisNodeDirectory } from './node-directory.js';
import { RedisPresence } from './presence.js';

/**
 * `--log redis://…` (or `rediss://`): a cluster on one Redis. The log is a stream every node tails;
 * presence, server-side close and the dashboard's node figures are the cluster's, on the log's command
 * connection.
 */
export const redisBackend: BackendKind = {
  expected: 'redis://host:port/db',
  claims: (url) => url.startsWith('redis://') || url.startsWith('rediss://'),
  valid: (url) => /^rediss?:\/\/./.test(url) && URL.canParse(url),
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
