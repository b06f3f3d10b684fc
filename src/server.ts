import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { classicRoutes } from './adapters/classic.js';
import { ExpiryWheel } from './auth/expiry-wheel.js';
import { KeyConfigError, TokenVerifier } from './auth/verify.js';
import { type Config, ConfigError } from './config.js';
import { Disconnect } from './core/disconnect.js';
import { Hub } from './core/hub.js';
import type { Log } from './core/ports.js';
import type { Subscription } from './core/subscription.js';
import { buildApp } from './http/app.js';
import { DevIdentity, type IdentityProvider } from './http/identity.js';
import { ConnectionLimits, PublishRateLimiter } from './http/limits.js';
import { StreamGuard } from './http/stream-guard.js';
import { TokenIdentity } from './http/token-identity.js';
import { MemoryLog } from './log/memory.js';
import { LocalPresence } from './presence/local.js';
import { LongPoll } from './transport/long-poll.js';
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
function createLog(config: Config): Log {
  if (config.log === 'memory') {
    return new MemoryLog({ historySize: config.historySize, historyAgeMs: config.historyAgeMs });
  }
  throw new Error(`unsupported log ${config.log}`);
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

/** Reads the PEM files of `--tls-cert`/`--tls-key` once at start; a missing file is a configuration error. */
function readTls(config: Config): { key: Buffer; cert: Buffer } | undefined {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  try {
    return { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) };
  } catch (error) {
    throw new ConfigError(`cannot read the TLS certificate or key: ${(error as Error).message}`);
  }
}

/** The composition root: builds log, hub, transports and HTTP from the configuration and wires them. */
export async function createHerald(config: Config, logger?: Logger): Promise<Herald> {
  const log = logger ?? pino({ level: config.logLevel });
  const nodeId = randomBytes(3).toString('hex');
  const identity = createIdentity(config);
  const messageLog = createLog(config);
  const hub = new Hub(messageLog, await messageLog.head(), { maxBufferedBytes: config.maxBufferedBytes });
  messageLog.tail((message) => hub.deliver(message));
  const sse = new SseTransport({ retryMs: config.retryMs, heartbeatMs: config.heartbeatMs });
  const streams = new StreamOpener(hub, sse, nodeId, (error) => log.warn({ err: error }, 'stream failed'));
  const presence = new LocalPresence(hub);
  const expiry = new ExpiryWheel<Subscription>((sub) => hub.end(sub, Disconnect.tokenExpired));
  const limits = new ConnectionLimits({
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    retryAfterSeconds: Math.max(1, Math.ceil(config.retryMs / 1000)),
  });
  const polls = new LongPoll(hub, messageLog, nodeId, { waitMs: config.pollTimeoutMs, batchSize: 500 });
  const guard = new StreamGuard(streams, limits, expiry, polls);
  const publishRate = new PublishRateLimiter({
    ratePerSecond: config.publishRate,
    burst: config.publishBurst,
  });
  let closing = false;
  const app = await buildApp(
    { hub, log: messageLog, presence, streams, identity, guard, publishRate },
    {
      logger: log,
      bodyLimitBytes: config.bodyLimitBytes,
      isReady: () => !closing,
      adapters: [classicRoutes],
      cors: config.corsOrigins.length > 0 ? config.corsOrigins : config.dev,
      trustProxy: config.trustProxy,
      maxHeaderBytes: config.maxHeaderBytes,
      maxUrlLength: config.maxUrlLength,
      tls: readTls(config),
      h2c: config.h2c,
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
      const scheme = config.tlsCert === undefined ? 'http' : 'https';
      return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    },
    async close() {
      if (closing) return;
      closing = true;
      sse.close();
      expiry.close();
      hub.disconnectAll(Disconnect.shutdown);
      await app.close();
      await messageLog.close();
    },
  };
}
