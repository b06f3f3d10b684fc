import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpDeps } from './deps.js';
import { sendAnswer, sendProblem } from './fast-answer.js';
import type { AppView, FastPathSettings, FastRoute } from './fast-path.js';
import type { CallerRequest } from './identity.js';
import { ACCEPTED_TYPE, publishBody } from './messages.js';
import { requestIdOf } from './request-id.js';

/** The query of `/messages`: none, which Fastify parses to `{}`. */
const NO_QUERY: Readonly<Record<string, never>> = Object.freeze({});

/**
 * Plain `POST /messages` requests, served ahead of Fastify (see `fast-path.ts`): a JSON body with a
 * `Content-Length` within the limit, no `Origin`, no proxied address. The rest goes to Fastify.
 */
export function fastPublishRoute(deps: HttpDeps, settings: FastPathSettings, app: AppView): FastRoute {
  return {
    takes(request) {
      if (request.method !== 'POST' || request.url !== '/messages' || app.closing()) return false;
      const headers = request.headers;
      // Browsers (CORS), chunked bodies and proxied addresses keep Fastify's handling: rarer, and subtler.
      if (headers.origin !== undefined || headers['transfer-encoding'] !== undefined) return false;
      if (settings.trustProxy && headers['x-forwarded-for'] !== undefined) return false;
      if (!isJson(headers['content-type'])) return false;
      // Over the limit: Fastify answers 413 without reading the body.
      const length = Number(headers['content-length']);
      return length <= settings.bodyLimitBytes && request.url.length <= settings.maxUrlLength;
    },
    serve: (request, response) => serve(request, response, deps, settings, app),
  };
}

/** `application/json`, with or without parameters: what Fastify hands to its JSON parser. */
function isJson(type: string | undefined): boolean {
  if (type === 'application/json') return true;
  if (type === undefined) return false;
  const semicolon = type.indexOf(';');
  return (semicolon === -1 ? type : type.slice(0, semicolon)).trim().toLowerCase() === 'application/json';
}

/** Reads, parses and publishes one request, in the order Fastify does: body, then identity, then the rest. */
function serve(
  request: IncomingMessage,
  response: ServerResponse,
  deps: HttpDeps,
  settings: FastPathSettings,
  app: AppView,
): void {
  const id = requestIdOf(request);
  const caller: CallerRequest = {
    headers: request.headers,
    query: NO_QUERY,
    // As Fastify's `request.ip` without a trusted proxy header.
    ip: request.socket.remoteAddress as string,
  };
  const failed = { id, url: '/messages', ip: caller.ip };
  const fail = (error: unknown, closeConnection: boolean): void =>
    sendProblem(response, error, failed, settings.logger, settings.common, closeConnection);
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('error', (error: Error & { statusCode?: number }) => {
    if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400;
    // Fastify closes the connection after a body it could not read or parse: the client may send more.
    fail(error, true);
  });
  request.on('end', () => {
    const text = chunks.length === 1 ? (chunks[0] as Buffer).toString() : Buffer.concat(chunks).toString();
    let body: unknown;
    try {
      body = app.parseJson(text);
    } catch (error) {
      fail(error, true);
      return;
    }
    publishBody(deps, caller, body).then(
      (accepted) =>
        sendAnswer(response, 202, id, settings.common, accepted, { 'content-type': ACCEPTED_TYPE }),
      (error: unknown) => fail(error, false),
    );
  });
}
