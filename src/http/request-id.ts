import type { IncomingMessage } from 'node:http';

/** Fastify's bound on its counter: the largest small integer, so the counter never turns into a float. */
const MAX_COUNTER = 0x7fffffff;
let counter = 0;

/**
 * The id of a request: the `X-Request-Id` a proxy in front sent (so log lines tie up across hops), else
 * `req-<n>` in base 36 as Fastify makes them. Fastify (`genReqId`) and the `POST /messages` fast path both
 * take ids from here, so they never hand out the same one.
 */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  if (typeof given === 'string' && given !== '') return given;
  counter = (counter + 1) & MAX_COUNTER;
  return `req-${counter.toString(36)}`;
}
