import { createServer, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../ops/metrics.js';
import type { IdentityProvider } from './identity.js';

/** `GET /metrics` on the main port, protected like the admin API (admin key; open in development mode). */
export function metricsRoutes(app: FastifyInstance, metrics: Metrics, identity: IdentityProvider): void {
  app.get('/metrics', async (request, reply) => {
    await identity.admin(request);
    const { contentType, body } = await metrics.scrape();
    return reply.type(contentType).header('cache-control', 'no-store').send(body);
  });
}

/**
 * The `--metrics-port` listener: `/metrics` without credentials, for a scraper on a private network.
 * A bare `node:http` server, apart from the public app, so it can be bound where only Prometheus reaches.
 */
export function metricsServer(metrics: Metrics): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
    );
  });
}
