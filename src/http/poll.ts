import type { FastifyInstance } from 'fastify';
import { lastEventIdOf } from '../transport/streams.js';
import type { HttpDeps } from './deps.js';
import { subscriberOf } from './identity.js';
import { queryOne } from './query.js';

/**
 * `GET /poll`: long-polling for networks whose proxies buffer streams. Same identity, groups and resume
 * point as `/events`; answers with the next messages as JSON, waiting up to `--poll-timeout` for one.
 * `?session=` continues the long-poll session named by the previous answer (see `transport/long-poll.ts`).
 */
export function pollRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/poll', async (request, reply) => {
    const subscriber = await subscriberOf(deps.identity, request);
    const query = request.query as Record<string, unknown>;
    reply.header('cache-control', 'no-store');
    const session = queryOne(query.session);
    return deps.guard.poll(request, reply, subscriber, lastEventIdOf(request.raw, query), session);
  });
}
