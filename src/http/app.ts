import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { FastifyCorsOptions } from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyHttpOptions,
  type FastifyInstance,
  LogController,
} from 'fastify';
import { Problems } from '../errors.js';
import { clientBundleRoutes } from './client-bundle.js';
import { installCommonAnswer } from './common-answer.js';
import type { HttpDeps } from './deps.js';
import { eventRoutes } from './events.js';
import { installFastPaths } from './fast-path.js';
import { healthRoutes, type Readiness } from './health.js';
import { inboxRoutes } from './inbox.js';
import { messageRoutes } from './messages.js';
import { openApiRoutes, recordRoutes } from './openapi.js';
import { pollRoutes } from './poll.js';
import { presenceRoutes } from './presence.js';
import { presenceEventRoutes } from './presence-events.js';
import { problemPageRoutes } from './problem-pages.js';
import { installProblemHandlers, rawProblemResponse } from './problems.js';
import { parseQuery } from './query.js';
import { requestIdOf } from './request-id.js';
import { userGroupRoutes } from './user-groups.js';

/** Options of the HTTP front door. */
export interface AppOptions {
  readonly logger: FastifyBaseLogger;
  readonly bodyLimitBytes: number;
  /** Readiness for `/readyz`. */
  readonly isReady: () => Readiness | Promise<Readiness>;
  /** Directory served at `/`. */
  readonly webRoot: string;
  /** Route plugins of the protocol adapters (classic `/sse`, ...), registered beside the native API. */
  readonly adapters: readonly ((app: FastifyInstance, deps: HttpDeps) => void)[];
  /** CORS: `true` allows every origin (development mode), a list allows those; default: same origin only. */
  readonly cors?: boolean | readonly string[];
  /** Fastify's `trustProxy`: who may set `X-Forwarded-For`, which per-address limits count. */
  readonly trustProxy?: boolean | number | string | undefined;
  /** Largest request line plus headers (431 beyond); Node's default is 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Longest request URL (414 beyond). */
  readonly maxUrlLength?: number;
  /** PEM key and certificate: serve HTTPS with HTTP/2 and HTTP/1.1 on one port, chosen by ALPN. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer } | undefined;
  /** Serve cleartext HTTP/2 (prior knowledge) instead of HTTP/1.1. */
  readonly h2c?: boolean;
  /** Called with the status of every 401 and 403 answered (the metrics count them). */
  readonly onAuthFailure?: (status: 401 | 403) => void;
  /** Headers of the pages served from `webRoot` (the Mercure discovery `Link`), made per response. */
  readonly pageHeaders?: (() => Readonly<Record<string, string>>) | undefined;
}

/** The bundled demo page, served at `/` unless `--web-root` names another directory. */
export const DEMO_WEB_ROOT = fileURLToPath(new URL('../../../web/', import.meta.url));

/**
 * Paths of the web root Herald serves itself (the dashboard, the client, the problem pages): files there
 * are not served, so a page directory that has them (the bundled one has `admin/`) cannot shadow them.
 */
const RESERVED_WEB_PATHS = ['admin/**', 'herald.js', 'problems/**'];

/** Builds the Fastify app: native API, adapters, demo page, problem bodies for every error. */
export async function buildApp(deps: HttpDeps, options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger,
    // One line per rejected request (from the error handler), never one per request served.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    // User ids of up to 128 characters appear in paths, percent-encoded.
    // Our own query parser, which the fast paths use too (`query.ts`), so both read a query alike.
    routerOptions: { maxParamLength: 512, querystringParser: parseQuery },
    return503OnClosing: true,
    // A request id from the proxy in front (else our own) ties log lines to one request.
    requestIdHeader: false,
    genReqId: requestIdOf,
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy as boolean }),
    ...serverKind(options),
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return socket.destroy();
      const tooLarge = (error as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW';
      const type = tooLarge ? Problems.headersTooLarge : Problems.invalidRequest;
      options.logger.info(
        { problem: type.code, code: (error as NodeJS.ErrnoException).code, remote: socket.remoteAddress },
        'request rejected',
      );
      socket.end(
        rawProblemResponse(type, tooLarge ? 'request headers or URL too large' : 'malformed HTTP request'),
      );
    },
  } as FastifyHttpOptions<Server>) as unknown as FastifyInstance;
  // First, so `/openapi.json` sees every route, those the composition root adds after this included.
  recordRoutes(app);
  installProblemHandlers(app);
  // Every body Herald reads is JSON; anything else is a 415, not a string that fails validation later.
  app.removeContentTypeParser('text/plain');
  const maxUrlLength = options.maxUrlLength ?? Number.POSITIVE_INFINITY;
  const common = await installCommonAnswer(app, {
    cors: corsOf(options.cors),
    maxUrlLength,
    onAuthFailure: options.onAuthFailure,
  });
  // Plain HTTP/1.1 only: TLS (HTTP/2 by ALPN) and h2c servers are not `node:http` servers.
  if (options.tls === undefined && options.h2c !== true) {
    installFastPaths(app, deps, {
      logger: options.logger,
      bodyLimitBytes: options.bodyLimitBytes,
      maxUrlLength,
      trustProxy: options.trustProxy !== undefined && options.trustProxy !== false,
      common,
    });
  }
  const pageHeaders = options.pageHeaders;
  await app.register(fastifyStatic, {
    root: options.webRoot,
    prefix: '/',
    index: 'index.html',
    wildcard: false,
    globIgnore: RESERVED_WEB_PATHS,
    ...(pageHeaders === undefined
      ? {}
      : {
          setHeaders: (response: { setHeader(name: string, value: string): unknown }) => {
            for (const [name, value] of Object.entries(pageHeaders())) response.setHeader(name, value);
          },
        }),
  });
  clientBundleRoutes(app);
  problemPageRoutes(app);
  healthRoutes(app, options.isReady);
  eventRoutes(app, deps);
  pollRoutes(app, deps);
  messageRoutes(app, deps);
  presenceRoutes(app, deps);
  inboxRoutes(app, deps);
  userGroupRoutes(app, deps);
  presenceEventRoutes(app, deps);
  openApiRoutes(app);
  for (const adapter of options.adapters) adapter(app, deps);
  return app;
}

/** The CORS plugin's options: `true` allows every origin (development mode), a list allows those. */
function corsOf(cors: AppOptions['cors']): FastifyCorsOptions | undefined {
  if (cors === undefined || cors === false) return undefined;
  return {
    // An allowlist, never a wildcard, so credentials (the herald_token cookie) may cross origins safely.
    origin: cors === true ? true : [...cors],
    credentials: true,
    methods: ['GET', 'POST', 'DELETE'],
    // Link and Mercure-Last-Event-ID: Mercure clients on other origins read the cursor from them.
    exposedHeaders: ['Retry-After', 'Link', 'Mercure-Last-Event-ID'],
    maxAge: 600,
  };
}

/**
 * Fastify's server options for the protocol: HTTP/1.1 (default); TLS with HTTP/2 and HTTP/1.1 fallback by
 * ALPN, so browsers multiplex every stream of an origin over one connection; or cleartext HTTP/2.
 */
function serverKind(options: AppOptions): Record<string, unknown> {
  const maxHeaderSize = options.maxHeaderBytes ?? 16 * 1024;
  if (options.tls !== undefined) {
    return {
      http2: true,
      https: { allowHTTP1: true, key: options.tls.key, cert: options.tls.cert, maxHeaderSize },
    };
  }
  if (options.h2c === true) return { http2: true, http: { maxHeaderSize } };
  return { http: { maxHeaderSize } };
}
