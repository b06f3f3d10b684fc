import type { FastifyInstance } from 'fastify';
import { lastEventIdOf } from '../transport/streams.js';
import type { HttpDeps } from './deps.js';
import { subscriberOf } from './identity.js';

/** `GET /events`: the native SSE stream. */
export function eventRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/events', async (request, reply) => {
    const subscriber = await subscriberOf(deps.identity, request);
    const query = request.query as Record<string, unknown>;
    deps.guard.open(request, reply, subscriber, { lastEventId: lastEventIdOf(request.raw, query) });
  });
}
