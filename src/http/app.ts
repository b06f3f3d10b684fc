import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { Problems } from '../errors.js';
import type { HttpDeps } from './deps.js';
import { eventRoutes } from './events.js';
import { healthRoutes } from './health.js';
import { messageRoutes } from './messages.js';
import { presenceRoutes } from './presence.js';
import { installProblemHandlers, rawProblemResponse } from './problems.js';

/** Options of the HTTP front door. */
export interface AppOptions {
  readonly logger: FastifyBaseLogger;
  readonly bodyLimitBytes: number;
  /** Readiness for `/readyz`. */
  readonly isReady: () => boolean;
  /** Route plugins of the protocol adapters (classic `/sse`, ...), registered beside the native API. */
  readonly adapters: readonly ((app: FastifyInstance, deps: HttpDeps) => void)[];
}

/** The static files of the demo page. */
export const WEB_ROOT = fileURLToPath(new URL('../../../web/', import.meta.url));

/** Builds the Fastify app: native API, adapters, demo page, problem bodies for every error. */
export async function buildApp(deps: HttpDeps, options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger,
    // One line per rejected request (from the error handler), never one per request served.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    // User ids of up to 128 characters appear in paths, percent-encoded.
    routerOptions: { maxParamLength: 512 },
    return503OnClosing: true,
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return socket.destroy();
      const tooLarge = (error as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW';
      const type = tooLarge ? Problems.headersTooLarge : Problems.invalidRequest;
      socket.end(
        rawProblemResponse(type, tooLarge ? 'request headers or URL too large' : 'malformed HTTP request'),
      );
    },
  });
  installProblemHandlers(app);
  await app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', index: 'index.html', wildcard: false });
  healthRoutes(app, options.isReady);
  eventRoutes(app, deps);
  messageRoutes(app, deps);
  presenceRoutes(app, deps);
  for (const adapter of options.adapters) adapter(app, deps);
  return app;
}
