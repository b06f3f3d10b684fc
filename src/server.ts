import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { classicRoutes } from './adapters/classic.js';
import { ClusterControl, LocalControl } from './cluster/control.js';
import { type Config, redact } from './config.js';
import { Disconnect } from './core/disconnect.js';
import { Hub } from './core/hub.js';
import type { Message } from './core/message.js';
import type { ConnectionControl, Log, Presence } from './core/ports.js';
import { buildApp } from './http/app.js';
import { DevIdentity, type IdentityProvider } from './http/identity.js';
import { MemoryLog } from './log/memory.js';
import { RedisLog } from './log/redis.js';
import { SqliteLog } from './log/sqlite.js';
import { LocalPresence } from './presence/local.js';
import { RedisPresence } from './presence/redis.js';
import { SseTransport } from './transport/sse.js';
import { StreamOpener } from './transport/streams.js';

/** A running (or ready to run) Herald node. */
export interface Herald {
  readonly app: FastifyInstance;
  readonly hub: Hub;
  readonly log: Log;
  readonly logger: Logger;
  /** Starts listening; resolves with the base URL. */
  listen(): Promise<string>;
  /** Stops accepting, tells every client to reconnect elsewhere, and releases everything. */
  close(): Promise<void>;
}

/** Picks the log backend from `--log`: the only place that knows which backends exist. */
async function createLog(config: Config, logger: Logger): Promise<Log> {
  const retention = { historySize: config.historySize, historyAgeMs: config.historyAgeMs };
  if (config.log === 'memory') return new MemoryLog(retention);
  if (config.log.startsWith('sqlite:')) {
    return new SqliteLog({ ...retention, path: config.log.slice('sqlite:'.length) });
  }
  if (config.log.startsWith('redis://') || config.log.startsWith('rediss://')) {
    try {
      return await RedisLog.connect({
        ...retention,
        url: config.log,
        prefix: config.redisPrefix,
        onTailEvent: (event) => {
          if (event.kind === 'lost')
            logger.warn({ err: event.error }, 'lost Redis; tailing retries with backoff');
          else if (event.kind === 'resumed')
            logger.info({ after: event.after }, 'Redis is back; tailing resumed');
          else logger.warn({ epoch: event.epoch }, 'Redis lost its history; older ids now get a gap');
        },
      });
    } catch (error) {
      throw new Error(`${(error as Error).message} (${redact(config.log)})`);
    }
  }
  throw new Error(`unsupported log ${redact(config.log)}`);
}

/** Presence and server-side close: this node's alone, or the cluster's when the log is shared. */
function createCluster(
  log: Log,
  hub: Hub,
  config: Config,
  nodeId: string,
  logger: Logger,
): {
  presence: Presence & { close?(): Promise<void> };
  control: ConnectionControl;
  deliver(m: Message): void;
} {
  const deliver = (message: Message): void => hub.deliver(message);
  if (!(log instanceof RedisLog))
    return { presence: new LocalPresence(hub), control: new LocalControl(hub), deliver };
  const presence = new RedisPresence(log.redis, hub, {
    prefix: config.redisPrefix,
    nodeId,
    ttlMs: config.presenceTtlMs,
    onError: (error) => logger.debug({ err: error }, 'presence not written to Redis'),
  });
  const control = new ClusterControl(log, hub, presence);
  return {
    presence,
    control,
    deliver(message) {
      hub.deliver(message);
      control.observe(message);
    },
  };
}

/** The identity seam's implementation for this configuration. */
function createIdentity(config: Config): IdentityProvider {
  if (config.dev) return new DevIdentity();
  throw new Error('production mode needs authentication keys; run with --dev for development');
}

/** The composition root: builds log, hub, transports and HTTP from the configuration and wires them. */
export async function createHerald(config: Config, logger?: Logger): Promise<Herald> {
  const log = logger ?? pino({ level: config.logLevel });
  const nodeId = randomBytes(3).toString('hex');
  const identity = createIdentity(config);
  const messageLog = await createLog(config, log);
  const hub = new Hub(messageLog, await messageLog.head(), { maxBufferedBytes: config.maxBufferedBytes });
  const { presence, control, deliver } = createCluster(messageLog, hub, config, nodeId, log);
  messageLog.tail(deliver);
  const sse = new SseTransport({ retryMs: config.retryMs, heartbeatMs: config.heartbeatMs });
  const streams = new StreamOpener(hub, sse, nodeId, (error) => log.warn({ err: error }, 'stream failed'));
  let closing = false;
  const app = await buildApp(
    { hub, log: messageLog, presence, streams, identity, control },
    {
      logger: log,
      bodyLimitBytes: config.bodyLimitBytes,
      // Not ready while a shared log is unreachable: a load balancer then sends new clients elsewhere.
      isReady: () => !closing && (!(messageLog instanceof RedisLog) || messageLog.available),
      adapters: [classicRoutes],
    },
  );
  if (config.dev)
    log.warn('DEVELOPMENT MODE: anyone can subscribe as any user with ?user=; never expose this');

  return {
    app,
    hub,
    log: messageLog,
    logger: log,
    async listen() {
      await app.listen({ port: config.port, host: config.host });
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.port;
      const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
      return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    },
    async close() {
      if (closing) return;
      closing = true;
      sse.close();
      hub.disconnectAll(Disconnect.shutdown);
      await app.close();
      await presence.close?.();
      await messageLog.close();
    },
  };
}
