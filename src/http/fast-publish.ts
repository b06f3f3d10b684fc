import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { type CommonAnswer, REQUEST_ID_HEADER } from './common-answer.js';
import type { HttpDeps } from './deps.js';
import type { CallerRequest } from './identity.js';
import { fastifyJsonParser, type JsonParser } from './internals/json-parser.js';
import { wrapRequestListener } from './internals/request-listener.js';
import { ACCEPTED_TYPE, publishBody } from './messages.js';
import { problemAnswer } from './problems.js';
import { requestIdOf } from './request-id.js';

/** What the fast path must agree on with the Fastify app it sits in front of. */
export interface FastPublishSettings {
  readonly logger: FastifyBaseLogger;
  readonly bodyLimitBytes: number;
  readonly maxUrlLength: number;
  /** Fastify's `trustProxy` is set: `X-Forwarded-For` may change the client address, so Fastify takes those. */
  readonly trustProxy: boolean;
  /** The headers every answer carries and the count of every answer, shared with Fastify's hooks. */
  readonly common: CommonAnswer;
}

/** What the fast path takes from the app: its JSON parser and whether it is closing. */
interface AppView {
  /** Fastify's own JSON body parser, so both paths parse and reject (`__proto__`, empty bodies) alike. */
  readonly parseJson: JsonParser;
  /** True once Fastify is closing: its own 503 (with `Connection: close`) answers from then on. */
  readonly closing: () => boolean;
}

/** The query of `/messages`: none, which Fastify parses to `{}`. */
const NO_QUERY: Readonly<Record<string, never>> = Object.freeze({});

/**
 * Serves plain `POST /messages` requests straight off `node:http`, ahead of Fastify, whose request and
 * reply objects, hooks, child logger and serializer cost more CPU than the publish itself. Only HTTP/1.1
 * servers: installed on the server Fastify made (so its timeouts, client-error handler and close logic stay
 * as they are) by wrapping Fastify's request listener; what the fast path does not take goes to Fastify.
 */
export function installFastPublish(
  app: FastifyInstance,
  deps: HttpDeps,
  settings: FastPublishSettings,
): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  const view: AppView = { parseJson: fastifyJsonParser(app), closing: () => closing };
  wrapRequestListener(app.server as Server, app.version, (fastify) =>
    fastPublish(fastify, deps, settings, view),
  );
}

/** The request listener: the plain publish here, everything else to `fallback` (Fastify). */
function fastPublish(
  fallback: RequestListener,
  deps: HttpDeps,
  settings: FastPublishSettings,
  app: AppView,
): RequestListener {
  const takes = (request: IncomingMessage): boolean => {
    if (request.method !== 'POST' || request.url !== '/messages' || app.closing()) return false;
    const headers = request.headers;
    // Browsers (CORS), chunked bodies and proxied addresses keep Fastify's handling: rarer, and subtler.
    if (headers.origin !== undefined || headers['transfer-encoding'] !== undefined) return false;
    if (settings.trustProxy && headers['x-forwarded-for'] !== undefined) return false;
    if (!isJson(headers['content-type'])) return false;
    // Over the limit: Fastify answers 413 without reading the body.
    const length = Number(headers['content-length']);
    return length <= settings.bodyLimitBytes && request.url.length <= settings.maxUrlLength;
  };
  return (request, response) => {
    if (takes(request)) serve(request, response, deps, settings, app);
    else fallback(request, response);
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
  settings: FastPublishSettings,
  app: AppView,
): void {
  const id = requestIdOf(request);
  const caller: CallerRequest = {
    headers: request.headers,
    query: NO_QUERY,
    // As Fastify's `request.ip` without a trusted proxy header.
    ip: request.socket.remoteAddress as string,
  };
  const chunks: Buffer[] = [];
  const fail = (error: unknown, closeConnection: boolean): void => {
    const answer = problemAnswer(error, {
      url: '/messages',
      ip: caller.ip,
      logger: settings.logger.child({ reqId: id }),
    });
    // Fastify closes the connection after a body it could not read or parse: the client may send more.
    const close = closeConnection ? { connection: 'close' } : undefined;
    send(response, answer.status, id, settings.common, answer.body, { ...close, ...answer.headers });
  };
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('error', (error: Error & { statusCode?: number }) => {
    if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400;
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
      (accepted) => send(response, 202, id, settings.common, accepted, { 'content-type': ACCEPTED_TYPE }),
      (error: unknown) => fail(error, false),
    );
  });
}

/**
 * One `writeHead` and one string `end`: Node writes status line, headers and body in a single packet.
 * The answer is counted as Fastify's `onResponse` hook counts its own.
 */
function send(
  response: ServerResponse,
  status: number,
  id: string,
  common: CommonAnswer,
  body: string,
  headers: Readonly<Record<string, string>>,
): void {
  response.writeHead(status, {
    [REQUEST_ID_HEADER]: id,
    ...common.headers,
    ...headers,
    'content-length': String(Buffer.byteLength(body)),
  });
  response.end(body);
  common.answered(status);
}
