import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { CommonAnswer } from './common-answer.js';
import type { HttpDeps } from './deps.js';
import { fastPublishRoute } from './fast-publish.js';
import { fastStreamRoute } from './fast-stream.js';
import { fastifyJsonParser, type JsonParser } from './internals/json-parser.js';
import { wrapRequestListener } from './internals/request-listener.js';

/** What the fast paths must agree on with the Fastify app they sit in front of. */
export interface FastPathSettings {
  readonly logger: FastifyBaseLogger;
  readonly bodyLimitBytes: number;
  readonly maxUrlLength: number;
  /** Fastify's `trustProxy` is set: `X-Forwarded-For` may change the client address, so Fastify takes those. */
  readonly trustProxy: boolean;
  /** The headers every answer carries and the count of every answer, shared with Fastify's hooks. */
  readonly common: CommonAnswer;
}

/** What the fast paths take from the app: its JSON parser and whether it is closing. */
export interface AppView {
  /** Fastify's own JSON body parser, so both paths parse and reject (`__proto__`, empty bodies) alike. */
  readonly parseJson: JsonParser;
  /** True once Fastify is closing: its own 503 (with `Connection: close`) answers from then on. */
  readonly closing: () => boolean;
}

/** A request a fast path serves by itself, without Fastify. */
export interface FastRoute {
  /** True when this route serves `request` as Fastify would; false leaves it to Fastify. */
  takes(request: IncomingMessage): boolean;
  serve(request: IncomingMessage, response: ServerResponse): void;
}

/**
 * Serves the two requests that come by the thousand — plain `POST /messages` (`fast-publish.ts`) and
 * `GET /events` (`fast-stream.ts`, a reconnect storm) — straight off `node:http`, ahead of Fastify, whose
 * request and reply objects, hooks, child logger and serializer cost more CPU than the work itself. Only
 * HTTP/1.1 servers: installed on the server Fastify made (so its timeouts, client-error handler and close
 * logic stay as they are) by wrapping Fastify's request listener; what no fast path takes goes to Fastify.
 */
export function installFastPaths(app: FastifyInstance, deps: HttpDeps, settings: FastPathSettings): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  const view: AppView = { parseJson: fastifyJsonParser(app), closing: () => closing };
  const publish = fastPublishRoute(deps, settings, view);
  const stream = fastStreamRoute(deps, settings, view);
  wrapRequestListener(
    app.server as Server,
    app.version,
    (fastify: RequestListener) => (request, response) => {
      if (stream.takes(request)) stream.serve(request, response);
      else if (publish.takes(request)) publish.serve(request, response);
      else fastify(request, response);
    },
  );
}
