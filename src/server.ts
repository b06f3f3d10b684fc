import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Http2Session } from 'node:http2';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { classicRoutes } from './adapters/classic.js';
import { ExpiryWheel } from './auth/expiry-wheel.js';
import { KeyConfigError, TokenVerifier } from './auth/verify.js';
import { openBackend } from './backends/registry.js';
import { type Config, ConfigError } from './config.js';
import { Disconnect } from './core/disconnect.js';
import { Hub } from './core/hub.js';
import type { Log } from './core/ports.js';
import type { Subscription } from './core/subscription.js';
import { AdminFeed, adminRoutes } from './http/admin.js';
import { buildApp, DEMO_WEB_ROOT } from './http/app.js';
import type { Readiness } from './http/health.js';
import { DevIdentity, type IdentityProvider } from './http/identity.js';
import { ConnectionLimits, PublishRateLimiter } from './http/limits.js';
import { metricsRoutes, metricsServer } from './http/metrics.js';
import { StreamGuard } from './http/stream-guard.js';
import { TokenIdentity } from './http/token-identity.js';
import { Metrics } from './ops/metrics.js';
import { PresenceWebhook } from './ops/presence-webhook.js';
import { PublishGate } from './ops/publish-gate.js';
import { StatsSampler } from './ops/stats.js';
import { LongPoll } from './transport/long-poll.js';
import { SseTransport } from './transport/sse.js';
import { StreamOpener } from './transport/streams.js';

/** A running (or ready to run) Herald node. */
export interface Herald {
  readonly app: FastifyInstance;
  readonly hub: Hub;
  readonly log: Log;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Long-polling and its sessions. */
  readonly polls: LongPoll;
  /** This node's id (the `node` label of metrics, the prefix of connection ids). */
  readonly nodeId: string;
  /** Starts listening; resolves with the base URL. */
  listen(): Promise<string>;
  /** The `--metrics-port` listener's base URL once listening; undefined without that option. */
  metricsUrl(): string | undefined;
  /**
   * Drains and stops: marks the node not ready, stops accepting, refuses new publishes and waits for the
   * ones in flight, tells every client to reconnect elsewhere, then releases everything; forces the
   * remaining connections closed once `--drain-timeout` has passed.
   */
  close(): Promise<void>;
}

/** What a test (or an embedder) may give a node beyond its configuration. */
export interface HeraldOptions {
  /** The clock of inbox expiry; default `Date.now`. Tests pass one they move ("tomorrow"). */
  readonly now?: () => number;
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
export async function createHerald(
  config: Config,
  logger?: Logger,
  options: HeraldOptions = {},
): Promise<Herald> {
  const log = logger ?? pino({ level: config.logLevel });
  const nodeId = randomBytes(3).toString('hex');
  const identity = createIdentity(config);
  const metrics = new Metrics(nodeId);
  const opening = await openBackend(config.log, {
    historySize: config.historySize,
    historyAgeMs: config.historyAgeMs,
    nodeId,
    keyPrefix: config.redisPrefix,
    presenceTtlMs: config.presenceTtlMs,
    logger: log,
    now: options.now ?? Date.now,
    inboxMaxTtlMs: config.inboxMaxTtlMs,
    presenceDebounceMs: config.presenceDebounceMs,
    presenceHistory: config.presenceHistory,
  });
  // Every reader and writer of the log goes through the gate: counted, timed, and refused while draining.
  const messageLog = new PublishGate(opening.log, metrics);
  const hub = new Hub(messageLog, await messageLog.head(), { maxBufferedBytes: config.maxBufferedBytes });
  const backend = opening.attach(hub);
  const { presence, control, directory } = backend;
  hub.serveUsers({
    loadGroups: (userId) => backend.groups.of(userId),
    knownGroups: backend.groups.known,
    inbox: backend.inbox,
  });
  const webhook =
    config.presenceWebhook === undefined
      ? undefined
      : new PresenceWebhook({
          url: config.presenceWebhook,
          secret: config.presenceWebhookSecret ?? '',
          onGiveUp: (event, why) =>
            log.warn(
              { presence: event.id, user: event.user, event: event.event, why },
              'presence webhook gave up',
            ),
        });
  if (webhook !== undefined) backend.presenceEvents.onDecided((event) => webhook.send(event));
  const stats = new StatsSampler({ hub, metrics, nodeId, directory });
  const feed = new AdminFeed(stats);
  messageLog.tail(
    (message) => {
      hub.deliver(message);
      backend.observe(message);
      // Once per message, never per recipient.
      metrics.routed(message.ts);
      feed.record(message);
    },
    (start) => hub.restartAt(start),
  );
  let closing = false;
  metrics.watch({ hub, draining: () => closing, adminStreams: () => feed.size });
  const sse = new SseTransport({ retryMs: config.retryMs, heartbeatMs: config.heartbeatMs });
  const streams = new StreamOpener(hub, sse, nodeId, (error) => log.warn({ err: error }, 'stream failed'));
  const expiry = new ExpiryWheel<Subscription>((sub) => hub.end(sub, Disconnect.tokenExpired));
  const limits = new ConnectionLimits({
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    retryAfterSeconds: Math.max(1, Math.ceil(config.retryMs / 1000)),
  });
  const polls = new LongPoll(hub, messageLog, nodeId, {
    waitMs: config.pollTimeoutMs,
    graceMs: config.pollGraceMs,
    batchSize: 500,
  });
  const guard = new StreamGuard(streams, limits, expiry, polls);
  const publishRate = new PublishRateLimiter({
    ratePerSecond: config.publishRate,
    burst: config.publishBurst,
  });
  const readiness = async (): Promise<Readiness> => {
    if (closing) return { ready: false, reason: 'draining' };
    // A backend that knows its storage is unreachable: a load balancer then sends new clients elsewhere.
    if (!backend.available()) return { ready: false, reason: 'log-unreachable' };
    return (await answersWithin(messageLog.head(), 2000))
      ? { ready: true }
      : { ready: false, reason: 'log-unreachable' };
  };
  const app = await buildApp(
    {
      hub,
      log: messageLog,
      presence,
      streams,
      identity,
      guard,
      publishRate,
      control,
      inbox: backend.inbox,
      groups: backend.groups,
      presenceEvents: backend.presenceEvents,
      inboxMaxTtlMs: config.inboxMaxTtlMs,
    },
    {
      logger: log,
      bodyLimitBytes: config.bodyLimitBytes,
      isReady: readiness,
      webRoot: config.webRoot ?? DEMO_WEB_ROOT,
      adapters: [classicRoutes],
      cors: config.corsOrigins.length > 0 ? config.corsOrigins : config.dev,
      trustProxy: config.trustProxy,
      maxHeaderBytes: config.maxHeaderBytes,
      maxUrlLength: config.maxUrlLength,
      tls: readTls(config),
      h2c: config.h2c,
      onAuthFailure: (status) => metrics.authFailure(status),
    },
  );
  const connections = trackConnections(app.server);
  metricsRoutes(app, metrics, identity);
  adminRoutes(app, { hub, log: messageLog, presence, control, identity, stats, feed, nodeId });
  const metricsListener: Server | undefined =
    config.metricsPort === undefined ? undefined : metricsServer(metrics);
  let metricsBase: string | undefined;
  let closed: Promise<void> | undefined;
  if (config.dev)
    log.warn('DEVELOPMENT MODE: anyone can subscribe as any user with ?user=; never expose this');

  return {
    app,
    hub,
    log: messageLog,
    logger: log,
    metrics,
    polls,
    nodeId,
    async listen() {
      await app.listen({ port: config.port, host: config.host });
      if (metricsListener !== undefined) {
        await new Promise<void>((resolve, reject) => {
          metricsListener.once('error', reject);
          metricsListener.listen(config.metricsPort, config.host, resolve);
        });
        metricsBase = baseUrl(config.host, metricsListener.address(), config.metricsPort ?? 0, 'http');
      }
      return baseUrl(
        config.host,
        app.server.address(),
        config.port,
        config.tlsCert === undefined ? 'http' : 'https',
      );
    },
    metricsUrl: () => metricsBase,
    close() {
      closed ??= drain();
      return closed;
    },
  };

  async function drain(): Promise<void> {
    closing = true;
    const deadline = Date.now() + config.drainTimeoutMs;
    log.info(
      {
        connections: hub.connectionCount,
        publishes: messageLog.pending,
        drainTimeoutMs: config.drainTimeoutMs,
      },
      'draining',
    );
    // Stops listening; requests on kept-alive connections get 503, requests under way finish.
    const stopped = app.close();
    if (!(await settlesBy(messageLog.drain(), deadline)))
      log.warn('publishes still in flight at the deadline');
    // Every accepted message is now routed: ending a connection flushes what it holds, then says reconnect.
    stats.close();
    feed.close();
    webhook?.close();
    sse.close();
    expiry.close();
    hub.disconnectAll(Disconnect.shutdown);
    polls.close();
    // Closed streams leave kept-alive sockets behind; close them as they go idle.
    connections.closeIdle();
    const idle = setInterval(() => connections.closeIdle(), 50);
    try {
      if (!(await settlesBy(stopped, deadline))) {
        log.warn('drain timeout passed; closing the remaining connections');
        connections.closeAll();
        sse.destroyDetached();
        await stopped;
      }
    } finally {
      clearInterval(idle);
    }
    if (metricsListener?.listening) {
      metricsListener.closeAllConnections();
      await new Promise((resolve) => metricsListener.close(resolve));
    }
    await backend.close();
    log.info('drained');
  }
}

/** True when `promise` settles before `deadline` (ms since the epoch). */
async function settlesBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when `probe` resolves within `ms`; false when it rejects or takes longer. */
async function answersWithin(probe: Promise<unknown>, ms: number): Promise<boolean> {
  const ok = probe.then(
    () => true,
    () => false,
  );
  return settlesBy(ok, Date.now() + ms).then(async (settled) => settled && (await ok));
}

function baseUrl(
  host: string,
  address: ReturnType<Server['address']>,
  fallbackPort: number,
  scheme: 'http' | 'https',
): string {
  const port = typeof address === 'object' && address !== null ? address.port : fallbackPort;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

/**
 * Closing kept-alive client connections at shutdown. HTTP/1.1 servers do it themselves; an HTTP/2 server
 * has sessions instead: `close()` lets a session's open streams finish, `destroy()` does not wait.
 */
function trackConnections(server: FastifyInstance['server']): { closeIdle(): void; closeAll(): void } {
  if ('closeIdleConnections' in server) {
    return { closeIdle: () => server.closeIdleConnections(), closeAll: () => server.closeAllConnections() };
  }
  const sessions = new Set<Http2Session>();
  (server as EventEmitter).on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  return {
    closeIdle: () => {
      for (const session of sessions) session.close();
    },
    closeAll: () => {
      for (const session of sessions) session.destroy();
    },
  };
}
