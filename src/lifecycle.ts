import type { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { Http2Session } from 'node:http2';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { Disconnect } from './core/disconnect.js';
import type { Hub } from './core/hub.js';
import type { Backend } from './core/ports.js';

/** Something the drain stops, in its turn. */
interface Stoppable {
  close(): void;
}

/** The parts of a node whose life the lifecycle runs: what listens, what drains, what is released. */
export interface NodeParts {
  readonly app: FastifyInstance;
  readonly hub: Hub;
  /** The gated message log: appends in flight, and refusing new ones. */
  readonly log: { readonly pending: number; drain(): Promise<void> };
  /**
   * Stopped in this order once every accepted publish is routed, before the hub ends the connections:
   * samplers, the admin feed (its streams told to reconnect), the SSE heartbeat, token expiry.
   */
  readonly beforeDisconnect: readonly Stoppable[];
  /** Stopped once the hub ended the connections: long-poll sessions (a waiting poll answers `disconnect`). */
  readonly afterDisconnect: readonly Stoppable[];
  /** Streams handed over from the HTTP server, which its `closeAllConnections` does not reach. */
  readonly detached: { destroyDetached(): void };
  /** The `--metrics-port` listener, if any. */
  readonly metricsListener: Server | undefined;
  readonly backend: Pick<Backend, 'close'>;
}

/** What of the configuration the lifecycle reads. */
export type LifecycleConfig = Pick<Config, 'port' | 'host' | 'tlsCert' | 'metricsPort' | 'drainTimeoutMs'>;

/**
 * A node's life once it is wired: listening, then draining. The drain marks the node not ready, stops
 * accepting, refuses new publishes and waits for the ones in flight, tells every client to reconnect
 * elsewhere, then releases everything; it forces the remaining connections closed once `--drain-timeout`
 * has passed.
 */
export class NodeLifecycle {
  private closing = false;
  private closed: Promise<void> | undefined;
  private metricsBase: string | undefined;
  private readonly connections: ConnectionTracker;

  constructor(
    private readonly config: LifecycleConfig,
    private readonly logger: Logger,
    private readonly parts: NodeParts,
  ) {
    this.connections = trackConnections(parts.app.server);
  }

  /** True from the start of the drain: `/readyz` answers 503 `draining`. */
  get draining(): boolean {
    return this.closing;
  }

  /** Starts listening (and the metrics listener); resolves with the base URL. */
  async listen(): Promise<string> {
    const { config, parts } = this;
    await parts.app.listen({ port: config.port, host: config.host });
    const metricsListener = parts.metricsListener;
    if (metricsListener !== undefined) {
      await new Promise<void>((resolve, reject) => {
        metricsListener.once('error', reject);
        metricsListener.listen(config.metricsPort, config.host, resolve);
      });
      this.metricsBase = baseUrl(config.host, metricsListener.address(), config.metricsPort ?? 0, 'http');
    }
    const scheme = config.tlsCert === undefined ? 'http' : 'https';
    return baseUrl(config.host, parts.app.server.address(), config.port, scheme);
  }

  /** The `--metrics-port` listener's base URL once listening; undefined without that option. */
  metricsUrl(): string | undefined {
    return this.metricsBase;
  }

  /** Drains and stops, once however often it is called. */
  close(): Promise<void> {
    this.closed ??= this.drain();
    return this.closed;
  }

  private async drain(): Promise<void> {
    const { parts, logger, connections } = this;
    this.closing = true;
    const deadline = Date.now() + this.config.drainTimeoutMs;
    logger.info(
      {
        connections: parts.hub.connectionCount,
        publishes: parts.log.pending,
        drainTimeoutMs: this.config.drainTimeoutMs,
      },
      'draining',
    );
    // Stops listening; requests on kept-alive connections get 503, requests under way finish.
    const stopped = parts.app.close();
    if (!(await settlesBy(parts.log.drain(), deadline)))
      logger.warn('publishes still in flight at the deadline');
    // Every accepted message is now routed: ending a connection flushes what it holds, then says reconnect.
    for (const part of parts.beforeDisconnect) part.close();
    parts.hub.disconnectAll(Disconnect.shutdown);
    for (const part of parts.afterDisconnect) part.close();
    // Closed streams leave kept-alive sockets behind; close them as they go idle.
    connections.closeIdle();
    const idle = setInterval(() => connections.closeIdle(), 50);
    try {
      if (!(await settlesBy(stopped, deadline))) {
        logger.warn('drain timeout passed; closing the remaining connections');
        connections.closeAll();
        parts.detached.destroyDetached();
        await stopped;
      }
    } finally {
      clearInterval(idle);
    }
    const metricsListener = parts.metricsListener;
    if (metricsListener?.listening) {
      metricsListener.closeAllConnections();
      await new Promise((resolve) => metricsListener.close(resolve));
    }
    await parts.backend.close();
    logger.info('drained');
  }
}

/** True when `promise` settles before `deadline` (ms since the epoch). */
export async function settlesBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
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

/** Closing kept-alive client connections at shutdown. */
interface ConnectionTracker {
  closeIdle(): void;
  closeAll(): void;
}

/**
 * HTTP/1.1 servers close kept-alive connections themselves; an HTTP/2 server has sessions instead:
 * `close()` lets a session's open streams finish, `destroy()` does not wait.
 */
function trackConnections(server: FastifyInstance['server']): ConnectionTracker {
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
