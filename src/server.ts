import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { classicRoutes } from './adapters/classic.js';
import { type Config, redact } from './config.js';
import { Disconnect } from './core/disconnect.js';
import { Hub } from './core/hub.js';
import type { Log } from './core/ports.js';
import { buildApp } from './http/app.js';
import { DevIdentity, type IdentityProvider } from './http/identity.js';
import { MemoryLog } from './log/memory.js';
import { SqliteLog } from './log/sqlite.js';
import { LocalPresence } from './presence/local.js';
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
  const retention = { historySize: config.historySize, historyAgeMs: config.historyAgeMs };
  if (config.log === 'memory') return new MemoryLog(retention);
  if (config.log.startsWith('sqlite:')) {
    return new SqliteLog({ ...retention, path: config.log.slice('sqlite:'.length) });
  }
  throw new Error(`unsupported log ${redact(config.log)}`);
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
  const messageLog = createLog(config);
  const hub = new Hub(messageLog, await messageLog.head(), { maxBufferedBytes: config.maxBufferedBytes });
  messageLog.tail((message) => hub.deliver(message));
  const sse = new SseTransport({ retryMs: config.retryMs, heartbeatMs: config.heartbeatMs });
  const streams = new StreamOpener(hub, sse, nodeId, (error) => log.warn({ err: error }, 'stream failed'));
  const presence = new LocalPresence(hub);
  let closing = false;
  const app = await buildApp(
    { hub, log: messageLog, presence, streams, identity },
    {
      logger: log,
      bodyLimitBytes: config.bodyLimitBytes,
      isReady: () => !closing,
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
      await messageLog.close();
    },
  };
}
