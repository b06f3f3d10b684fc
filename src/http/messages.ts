import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from './deps.js';
import { parseBatch, parseMessage } from './publish-request.js';

/** The 202 body, so Fastify serializes it with a compiled serializer instead of `JSON.stringify`. */
const ACCEPTED = {
  type: 'object',
  properties: { id: { type: 'string' }, ids: { type: 'array', items: { type: 'string' } } },
} as const;

/** `POST /messages`: publish one message (a JSON object) or a batch (a JSON array), through the log. */
export function messageRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post('/messages', { schema: { response: { 202: ACCEPTED } } }, async (request, reply) => {
    const publisher = await deps.identity.publisher(request);
    const body = request.body;
    if (Array.isArray(body)) {
      const drafts = parseBatch(body);
      deps.publishRate.take(publisher.id, drafts.length);
      const messages = await deps.log.appendMany(drafts);
      return reply.code(202).send({ ids: messages.map((m) => m.id) });
    }
    const draft = parseMessage(body);
    deps.publishRate.take(publisher.id, 1);
    const message = await deps.log.append(draft);
    return reply.code(202).send({ id: message.id });
  });
}
