import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { classicRoutes } from './adapters/classic.js';
import { ExpiryWheel } from './auth/expiry-wheel.js';
import { KeyConfigError, TokenVerifier } from './auth/verify.js';
import { ClusterControl, LocalControl } from './cluster/control.js';
import { type Config, ConfigError, redact } from './config.js';
import { Disconnect } from './core/disconnect.js';
import { Hub } from './core/hub.js';
import type { Message } from './core/message.js';
import type { ConnectionControl, Log, Presence } from './core/ports.js';
import type { Subscription } from './core/subscription.js';
import { buildApp, DEMO_WEB_ROOT } from './http/app.js';
import { DevIdentity, type IdentityProvider } from './http/identity.js';
import { ConnectionLimits, PublishRateLimiter } from './http/limits.js';
import { StreamGuard } from './http/stream-guard.js';
import { TokenIdentity } from './http/token-identity.js';
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

/**
 * The identity seam's implementation for this configuration. Production mode refuses to start without
 * a token key, naming the options, rather than run open.
 */
function createIdentity(config: Config): IdentityProvider {
  if (config.dev) return new DevIdentity();
  let verifier: TokenVerifier;
  try {
    verifier = new TokenVerifier({
      secret: config.jwtSecret,
      publicKeyPath: config.jwtPublicKey,
      jwksUrl: config.jwksUrl,
      jwksCooldownMs: config.jwksCooldownMs,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      clockSkewMs: config.jwtClockSkewMs,
    });
  } catch (error) {
    if (error instanceof KeyConfigError) throw new ConfigError(error.message);
    throw error;
  }
  if (!verifier.configured) {
    throw new ConfigError(
      'production mode needs a token key: set --jwt-secret (HERALD_JWT_SECRET), --jwt-public-key (HERALD_JWT_PUBLIC_KEY) or --jwks-url (HERALD_JWKS_URL), or run with --dev',
    );
  }
  return new TokenIdentity(verifier, { publishKey: config.publishKey, adminKey: config.adminKey });
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
  const expiry = new ExpiryWheel<Subscription>((sub) => hub.end(sub, Disconnect.tokenExpired));
  const limits = new ConnectionLimits({
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    retryAfterSeconds: Math.max(1, Math.ceil(config.retryMs / 1000)),
  });
  const guard = new StreamGuard(streams, limits, expiry);
  const publishRate = new PublishRateLimiter({
    ratePerSecond: config.publishRate,
    burst: config.publishBurst,
  });
  let closing = false;
  const app = await buildApp(
    { hub, log: messageLog, presence, streams, identity, guard, publishRate, control },
    {
      logger: log,
      bodyLimitBytes: config.bodyLimitBytes,
      // Not ready while a shared log is unreachable: a load balancer then sends new clients elsewhere.
      isReady: () => !closing && (!(messageLog instanceof RedisLog) || messageLog.available),
      webRoot: config.webRoot ?? DEMO_WEB_ROOT,
      adapters: [classicRoutes],
      cors: config.corsOrigins.length > 0 ? config.corsOrigins : config.dev,
      trustProxy: config.trustProxy,
      maxHeaderBytes: config.maxHeaderBytes,
      maxUrlLength: config.maxUrlLength,
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
      expiry.close();
      hub.disconnectAll(Disconnect.shutdown);
      await app.close();
      await presence.close?.();
      await messageLog.close();
    },
  };
}
