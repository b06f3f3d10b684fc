import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from './deps.js';
import type { CallerRequest } from './identity.js';
import { parseBatch, parseMessage } from './publish-request.js';

/** Content type of the 202 body, as Fastify writes it for JSON. */
export const ACCEPTED_TYPE = 'application/json; charset=utf-8';

/**
 * Publishes one `POST /messages` body for `caller` through the log, and resolves with the 202 body:
 * `{"id":…}` for one message (a JSON object), `{"ids":[…]}` for a batch (a JSON array). The route and the
 * fast path (`fast-publish.ts`) both call it, so they authorize, validate and rate-limit in the same order.
 */
export async function publishBody(
  deps: Pick<HttpDeps, 'identity' | 'log' | 'publishRate' | 'inboxMaxTtlMs'>,
  caller: CallerRequest,
  body: unknown,
): Promise<string> {
  const publisher = await deps.identity.publisher(caller);
  if (Array.isArray(body)) {
    const drafts = parseBatch(body, deps.inboxMaxTtlMs);
    deps.publishRate.take(publisher.id, drafts.length);
    const messages = await deps.log.appendMany(drafts);
    return JSON.stringify({ ids: messages.map((m) => m.id) });
  }
  const draft = parseMessage(body, '', deps.inboxMaxTtlMs);
  deps.publishRate.take(publisher.id, 1);
  const message = await deps.log.append(draft);
  return JSON.stringify({ id: message.id });
}

/** `POST /messages`: publish one message or a batch. Plain requests take the fast path before reaching here. */
export function messageRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post('/messages', async (request, reply) => {
    const body = await publishBody(deps, request, request.body);
    return reply.code(202).type(ACCEPTED_TYPE).send(body);
  });
}
