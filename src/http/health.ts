import type { FastifyInstance } from 'fastify';

/** The answer of a readiness check. */
export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not ready: `draining`, `log-unreachable`. */
  readonly reason?: string;
}

/**
 * Liveness and readiness for load balancers and orchestrators. `/healthz` answers while the process runs;
 * `/readyz` answers 503 while the node drains or its log backend does not answer, so traffic moves away.
 */
export function healthRoutes(app: FastifyInstance, readiness: () => Readiness | Promise<Readiness>): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const { ready, reason } = await readiness();
    reply.header('cache-control', 'no-store');
    if (ready) return { status: 'ready' };
    return reply.code(503).send({ status: 'not-ready', reason });
  });
}
