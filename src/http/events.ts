import type { FastifyInstance } from 'fastify';
import { lastEventIdOf } from '../transport/streams.js';
import { type HttpDeps, queryList, queryOne } from './deps.js';

/** `GET /events`: the native SSE stream. */
export function eventRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/events', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const subscriber = await deps.identity.subscriber(request, {
      userId: queryOne(query.user),
      groups: queryList(query.group),
    });
    deps.guard.open(request, reply, subscriber, { lastEventId: lastEventIdOf(request.raw, query) });
  });
}
