import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from './deps.js';
import type { CallerRequest } from './identity.js';
import { type PublishDeps, publish } from './publish.js';
import { parseBatch, parseMessage } from './publish-request.js';

/** Content type of the 202 body, as Fastify writes it for JSON. */
export const ACCEPTED_TYPE = 'application/json; charset=utf-8';

/**
 * Publishes one `POST /messages` body for `caller` through the log, and resolves with the 202 body:
 * `{"id":…}` for one message (a JSON object), `{"ids":[…]}` for a batch (a JSON array). The route and the
 * fast path (`fast-publish.ts`) both call it; it publishes through the one sequence (`publish.ts`).
 */
export async function publishBody(
  deps: PublishDeps & Pick<HttpDeps, 'inboxMaxTtlMs'>,
  caller: CallerRequest,
  body: unknown,
): Promise<string> {
  const published = await publish(deps, caller, () =>
    Array.isArray(body) ? parseBatch(body, deps.inboxMaxTtlMs) : parseMessage(body, '', deps.inboxMaxTtlMs),
  );
  return JSON.stringify(
    Array.isArray(published) ? { ids: published.map((m) => m.id) } : { id: published.id },
  );
}

/** `POST /messages`: publish one message or a batch. Plain requests take the fast path before reaching here. */
export function messageRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post('/messages', async (request, reply) => {
    const body = await publishBody(deps, request, request.body);
    return reply.code(202).type(ACCEPTED_TYPE).send(body);
  });
}
