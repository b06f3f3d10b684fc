import type { FastifyInstance } from 'fastify';
import { HeraldError, Problems } from '../errors.js';
import { checkName } from '../protocol/grammar.js';
import type { HttpDeps } from './deps.js';
import { queryOne } from './query.js';

/** Largest page of `GET /presence/users`. */
export const MAX_PAGE = 1000;

/** Presence figures and the server-side close of a user's connections. */
export function presenceRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/presence', async (request) => {
    await deps.identity.publisher(request);
    return deps.presence.summary();
  });

  app.get('/presence/users', async (request) => {
    await deps.identity.publisher(request);
    const query = request.query as Record<string, unknown>;
    const prefix = queryOne(query.prefix) ?? '';
    const cursor = queryOne(query.cursor);
    const limitText = queryOne(query.limit) ?? '100';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_PAGE) {
      throw new HeraldError(Problems.invalidRequest, `limit must be an integer from 1 to ${MAX_PAGE}`, {
        field: 'limit',
      });
    }
    return deps.presence.listUsers({ prefix, limit, cursor });
  });

  app.get<{ Params: { id: string } }>('/presence/users/:id', async (request) => {
    await deps.identity.publisher(request);
    return deps.presence.user(userIdParam(request.params.id));
  });

  app.delete<{ Params: { id: string } }>('/users/:id/connections', async (request) => {
    await deps.identity.publisher(request);
    const userId = userIdParam(request.params.id);
    return { user: userId, closed: await deps.control.disconnectUser(userId) };
  });
}

/** Validates a user id taken from the path. */
export function userIdParam(id: string): string {
  const problem = checkName(id, 'user id');
  if (problem !== undefined) throw new HeraldError(Problems.invalidRequest, problem, { field: 'id' });
  return id;
}
