import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify';
import { DuplicateIdError, LogUnavailableError } from '../core/ports.js';
import { HeraldError, Problems, type ProblemType, problemBody } from '../errors.js';
import { redactToken } from './credentials.js';

const PROBLEM_JSON = 'application/problem+json';
/** What Fastify makes of `PROBLEM_JSON` on the wire; set in full so both paths send the same header. */
const PROBLEM_JSON_UTF8 = `${PROBLEM_JSON}; charset=utf-8`;

/** A fixed sentence: the driver's words (a Redis reply, a SQLite error) go to the log line only. */
const LOG_UNAVAILABLE_DETAIL = 'the message log cannot be reached; retry later';

interface Classified {
  readonly type: ProblemType;
  readonly detail: string;
  readonly extra: Readonly<Record<string, unknown>>;
}

/** Maps any error raised while handling a request to one catalogue entry. */
function classify(error: unknown): Classified {
  if (error instanceof HeraldError) return { type: error.problem, detail: error.detail, extra: error.extra };
  if (error instanceof DuplicateIdError) {
    const detail = `id "${error.id}" was used within the history age`;
    return { type: Problems.duplicateId, detail, extra: { field: 'id' } };
  }
  if (error instanceof LogUnavailableError)
    return { type: Problems.logUnavailable, detail: LOG_UNAVAILABLE_DETAIL, extra: {} };
  if (!(error instanceof Error))
    return { type: Problems.internal, detail: 'an unexpected error occurred', extra: {} };
  const code = (error as FastifyError).code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { type: Problems.bodyTooLarge, detail: error.message, extra: {} };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { type: Problems.unsupportedMediaType, detail: 'send the body as application/json', extra: {} };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { type: Problems.malformedJson, detail: 'the body is empty', extra: {} };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { type: Problems.malformedJson, detail: error.message, extra: {} };
    case 'FST_ERR_VALIDATION':
      return { type: Problems.invalidRequest, detail: error.message, extra: {} };
  }
  const status = (error as FastifyError).statusCode;
  if (error instanceof SyntaxError && status === 400) {
    return { type: Problems.malformedJson, detail: error.message, extra: {} };
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return { type: Problems.invalidRequest, detail: error.message, extra: {} };
  }
  return { type: Problems.internal, detail: 'an unexpected error occurred; it has been logged', extra: {} };
}

/** What a failed request is answered with: its status, headers, and the serialized problem body. */
export interface ProblemAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** What the log line and `instance` of a failed request need to know about it. */
export interface FailedRequest {
  readonly url: string;
  readonly ip: string;
  /** The request's logger (with its `reqId`). */
  readonly logger: FastifyBaseLogger;
}

/**
 * Classifies an error, logs it once and builds the answer: the single place problems are made, used by
 * Fastify's error handler and by the `POST /messages` fast path, so both answer and log alike.
 */
export function problemAnswer(error: unknown, request: FailedRequest): ProblemAnswer {
  const { type, detail, extra } = classify(error);
  // A ?token= credential must not reach the logs, nor be echoed back in `instance`.
  const url = redactToken(request.url);
  if (type.status >= 500 && type !== Problems.authUnavailable)
    request.logger.error({ err: error, problem: type.code, url }, 'request failed');
  else request.logger.info({ problem: type.code, detail, url, ip: request.ip }, 'request rejected');
  const headers: Record<string, string> = {};
  const retryAfter = extra.retryAfter;
  if (typeof retryAfter === 'number') headers['retry-after'] = String(retryAfter);
  if (type.status === 401) headers['www-authenticate'] = 'Bearer realm="herald"';
  if (error instanceof HeraldError) Object.assign(headers, error.headers);
  headers['content-type'] = PROBLEM_JSON_UTF8;
  return { status: type.status, headers, body: JSON.stringify(problemBody(type, detail, url, extra)) };
}

/** Answers every error and unknown route with an RFC 9457 problem body, logged once. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const answer = problemAnswer(error, { url: request.url, ip: request.ip, logger: request.log });
    reply.code(answer.status).headers(answer.headers).send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const detail = `no route ${request.method} ${request.url.split('?')[0]}`;
    request.log.info({ problem: Problems.notFound.code, detail }, 'request rejected');
    reply
      .code(404)
      .type(PROBLEM_JSON)
      .send(problemBody(Problems.notFound, detail, redactToken(request.url)));
  });
}

/** A problem written straight to a socket: for errors Node raises before a request exists (431, 400). */
export function rawProblemResponse(type: ProblemType, detail: string): string {
  const body = JSON.stringify(problemBody(type, detail));
  return (
    `HTTP/1.1 ${type.status} ${type.title}\r\n` +
    `Content-Type: ${PROBLEM_JSON}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
