import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { type CommonAnswer, REQUEST_ID_HEADER } from './common-answer.js';
import { problemAnswer } from './problems.js';

/**
 * One `writeHead` and one string `end`: Node writes status line, headers and body in a single packet.
 * The answer is counted as Fastify's `onResponse` hook counts its own.
 */
export function sendAnswer(
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

/** What a fast path knows of a request that failed. */
export interface FailedFastRequest {
  readonly id: string;
  readonly url: string;
  readonly ip: string;
}

/**
 * Answers a failed request with its problem, logged once with the request id, as Fastify's error handler
 * does. `closeConnection`: after a body that could not be read or parsed (the client may send more).
 */
export function sendProblem(
  response: ServerResponse,
  error: unknown,
  request: FailedFastRequest,
  logger: FastifyBaseLogger,
  common: CommonAnswer,
  closeConnection = false,
): void {
  const answer = problemAnswer(error, {
    url: request.url,
    ip: request.ip,
    logger: logger.child({ reqId: request.id }),
  });
  const close = closeConnection ? { connection: 'close' } : undefined;
  sendAnswer(response, answer.status, request.id, common, answer.body, { ...close, ...answer.headers });
}
