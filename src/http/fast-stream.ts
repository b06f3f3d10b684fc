import type { IncomingMessage, ServerResponse } from 'node:http';
import { lastEventIdOf } from '../transport/streams.js';
import { REQUEST_ID_HEADER } from './common-answer.js';
import type { HttpDeps } from './deps.js';
import { sendProblem } from './fast-answer.js';
import type { AppView, FastPathSettings, FastRoute } from './fast-path.js';
import type { StreamHeaders } from './hijack.js';
import { type CallerRequest, subscriberOf } from './identity.js';
import { parseQuery } from './query.js';
import { requestIdOf } from './request-id.js';
import type { StreamCall } from './stream-guard.js';

const PATH = '/events';

/**
 * Plain `GET /events` requests, served ahead of Fastify (see `fast-path.ts`): no body, no `Origin`, no
 * proxied address. A reconnect storm is thousands of these at once, and Fastify's request, reply, hooks
 * and hijack cost as much CPU as the stream's own start. The stream opens through the same guard as
 * Fastify's route (`StreamGuard`: identity, limits, expiry), so both paths open the same stream.
 */
export function fastStreamRoute(deps: HttpDeps, settings: FastPathSettings, app: AppView): FastRoute {
  return {
    takes(request) {
      if (request.method !== 'GET' || app.closing()) return false;
      const url = request.url as string;
      if (!(url.startsWith(PATH) && (url.length === PATH.length || url.charCodeAt(PATH.length) === 63))) {
        return false; // 63: '?'
      }
      const headers = request.headers;
      // Browsers on other origins (CORS), a GET with a body and proxied addresses keep Fastify's handling.
      if (headers.origin !== undefined || headers['transfer-encoding'] !== undefined) return false;
      if (headers['content-length'] !== undefined) return false;
      if (settings.trustProxy && headers['x-forwarded-for'] !== undefined) return false;
      return url.length <= settings.maxUrlLength;
    },
    serve: (request, response) => serve(request, response, deps, settings),
  };
}

function serve(
  request: IncomingMessage,
  response: ServerResponse,
  deps: HttpDeps,
  settings: FastPathSettings,
): void {
  const id = requestIdOf(request);
  const url = request.url as string;
  const query = parseQuery(url.length === PATH.length ? '' : url.slice(PATH.length + 1));
  // As Fastify's `request.ip` without a trusted proxy header.
  const ip = request.socket.remoteAddress as string;
  const caller: CallerRequest = { headers: request.headers, query, ip };
  const fail = (error: unknown): void =>
    sendProblem(response, error, { id, url, ip }, settings.logger, settings.common);
  // What Fastify's hooks would have set on the reply: the request id, and CORS's headers without `Origin`.
  const takeOver = (): StreamHeaders => ({ [REQUEST_ID_HEADER]: id, ...settings.common.headers });
  // The stream opens after the identity resolves, a microtask at the least: by then the parser has read
  // the whole request, as the socket hand-off needs.
  subscriberOf(deps.identity, caller).then((subscriber) => {
    const logger = settings.logger;
    const level = logger.level;
    const debug = level === 'debug' || level === 'trace';
    const call: StreamCall = {
      request,
      response,
      ip,
      log: debug ? logger.child({ reqId: id }) : logger,
      takeOver,
    };
    try {
      deps.guard.openCall(call, subscriber, { lastEventId: lastEventIdOf(request, query) });
    } catch (error) {
      fail(error);
    }
  }, fail);
}
