import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
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
import { backupRoutes } from './http/backup.js';
import type { Readiness } from './http/health.js';
import { DevIdentity, type IdentityProvider } from './http/identity.js';
import { checkFrameworkListeners } from './http/internals/framework-listeners.js';
import { ConnectionLimits, PublishRateLimiter } from './http/limits.js';
import { metricsRoutes, metricsServer } from './http/metrics.js';
import { StreamGuard } from './http/stream-guard.js';
import { TokenIdentity } from './http/token-identity.js';
import { NodeLifecycle, settlesBy } from './lifecycle.js';
import { MercureHub } from './mercure/hub.js';
import { mercureRoutes } from './mercure/routes.js';
import { MercureKeyError, mercureConfigured } from './mercure/tokens.js';
import { Metrics } from './ops/metrics.js';
import { PresenceWebhook } from './ops/presence-webhook.js';
import { PublishGate } from './ops/publish-gate.js';
import { StatsSampler } from './ops/stats.js';
import { checkSocketHandOff } from './transport/http1-socket.js';
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
  // A Mercure-only deployment needs no Herald key: the native API then accepts only the static keys.
  if (!verifier.configured && !mercureConfigured(mercureKeysOf(config))) {
    throw new ConfigError(
      'production mode needs a token key: set --jwt-secret (HERALD_JWT_SECRET), --jwt-public-key (HERALD_JWT_PUBLIC_KEY), --jwks-url (HERALD_JWKS_URL) or a --mercure-*-jwt-key, or run with --dev',
    );
  }
  return new TokenIdentity(verifier, { publishKey: config.publishKey, adminKey: config.adminKey });
}

/** The Mercure key options: with any of them set, the Mercure hub is served (development mode or not). */
function mercureKeysOf(config: Config) {
  return {
    publisherKey: config.mercurePublisherJwtKey,
    subscriberKey: config.mercureSubscriberJwtKey,
    jwksUrl: config.mercureJwksUrl,
  };
}

/** The Mercure hub for this configuration, or undefined when no Mercure key is set. */
function createMercure(
  config: Config,
  deps: ConstructorParameters<typeof MercureHub>[1],
): MercureHub | undefined {
  const keys = mercureKeysOf(config);
  if (!mercureConfigured(keys)) return undefined;
  try {
    return new MercureHub(
      {
        ...keys,
        anonymous: config.mercureAnonymous,
        audience: config.mercureAudience,
        issuer: config.mercureIssuer,
        cookieName: config.mercureCookieName,
        queryToken: config.mercureQueryToken,
        subscriptions: config.mercureSubscriptions,
        clockSkewMs: config.jwtClockSkewMs,
        retryMs: config.retryMs,
        corsOrigins: config.corsOrigins,
        presenceTtlMs: config.presenceTtlMs,
      },
      deps,
    );
  } catch (error) {
    if (error instanceof MercureKeyError) throw new ConfigError(error.message);
    throw error;
  }
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

/**
 * The composition root: builds log, hub, transports and HTTP from the configuration and wires them; the
 * node's life (listening, draining) is `lifecycle.ts`'s.
 */
export async function createHerald(
  config: Config,
  logger?: Logger,
  options: HeraldOptions = {},
): Promise<Herald> {
  const nodeLogger = logger ?? pino({ level: config.logLevel });
  const tls = readTls(config);
  // What Herald relies on inside Fastify and Node, checked before anything opens: a version that changed
  // it fails the start (StartupError) instead of serving wrongly. Plain HTTP/1.1 streams alone leave
  // Node's HTTP server (`transport/http1-socket.ts`); the fast path checks its own when installed.
  await Promise.all([
    checkFrameworkListeners(nodeLogger),
    tls === undefined && !config.h2c ? checkSocketHandOff() : undefined,
  ]);
  const nodeId = randomBytes(3).toString('hex');
  const identity = createIdentity(config);
  const metrics = new Metrics(nodeId);
  const opening = await openBackend(config.log, {
    historySize: config.historySize,
    historyAgeMs: config.historyAgeMs,
    nodeId,
    keyPrefix: config.redisPrefix,
    presenceTtlMs: config.presenceTtlMs,
    logger: nodeLogger,
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
  const mercure = createMercure(config, { log: messageLog, presence, nodeId, logger: nodeLogger });
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
            nodeLogger.warn(
              { presence: event.id, user: event.user, event: event.event, why },
              'presence webhook gave up',
            ),
        });
  if (webhook !== undefined) backend.presenceEvents.onDecided((event) => webhook.send(event));
  const stats = new StatsSampler({ hub, metrics, nodeId, directory });
  const sse = new SseTransport({ retryMs: config.retryMs, heartbeatMs: config.heartbeatMs });
  const feed = new AdminFeed(stats, sse);
  messageLog.tail(
    (message) => {
      hub.deliver(message);
      backend.observe(message);
      mercure?.observe(message);
      // Once per message, never per recipient.
      metrics.routed(message.ts);
      feed.record(message);
    },
    (start) => hub.restartAt(start),
  );
  // `lifecycle` is built once the app is; these run only once the node serves.
  metrics.watch({ hub, draining: () => lifecycle.draining, adminStreams: () => feed.size });
  const streams = new StreamOpener(hub, sse, nodeId, (error) =>
    nodeLogger.warn({ err: error }, 'stream failed'),
  );
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
    if (lifecycle.draining) return { ready: false, reason: 'draining' };
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
      logger: nodeLogger,
      bodyLimitBytes: config.bodyLimitBytes,
      isReady: readiness,
      webRoot: config.webRoot ?? DEMO_WEB_ROOT,
      adapters: mercure === undefined ? [classicRoutes] : [classicRoutes, mercureRoutes(mercure)],
      pageHeaders: mercure === undefined ? undefined : () => ({ link: mercure.pageLink(hub.lastPosition) }),
      cors: config.corsOrigins.length > 0 ? config.corsOrigins : config.dev,
      trustProxy: config.trustProxy,
      maxHeaderBytes: config.maxHeaderBytes,
      maxUrlLength: config.maxUrlLength,
      tls,
      h2c: config.h2c,
      onAuthFailure: (status) => metrics.authFailure(status),
    },
  );
  metricsRoutes(app, metrics, identity);
  adminRoutes(app, {
    hub,
    log: messageLog,
    presence,
    control,
    identity,
    stats,
    feed,
    nodeId,
    inboxMaxTtlMs: config.inboxMaxTtlMs,
  });
  backupRoutes(app, { identity, backup: backend.backup?.bind(backend) });
  const metricsListener: Server | undefined =
    config.metricsPort === undefined ? undefined : metricsServer(metrics);
  const lifecycle = new NodeLifecycle(config, nodeLogger, {
    app,
    hub,
    log: messageLog,
    beforeDisconnect:
      webhook === undefined ? [stats, feed, sse, expiry] : [stats, feed, webhook, sse, expiry],
    afterDisconnect: [polls],
    detached: sse,
    metricsListener,
    backend,
  });
  if (config.dev)
    nodeLogger.warn('DEVELOPMENT MODE: anyone can subscribe as any user with ?user=; never expose this');

  return {
    app,
    hub,
    log: messageLog,
    logger: nodeLogger,
    metrics,
    polls,
    nodeId,
    async listen() {
      const url = await lifecycle.listen();
      mercure?.start();
      return url;
    },
    metricsUrl: () => lifecycle.metricsUrl(),
    close: () => lifecycle.close(),
  };
}

/** True when `probe` resolves within `ms`; false when it rejects or takes longer. */
async function answersWithin(probe: Promise<unknown>, ms: number): Promise<boolean> {
  const ok = probe.then(
    () => true,
    () => false,
  );
  return settlesBy(ok, Date.now() + ms).then(async (settled) => settled && (await ok));
}
