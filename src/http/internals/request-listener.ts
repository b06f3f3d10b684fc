import type { RequestListener, Server } from 'node:http';
import { StartupError } from '../../errors.js';

/**
 * Puts `wrap(fastify)` in the place of Fastify's request listener on the `node:http` server Fastify made,
 * so a listener of ours sees every request first. Fastify documents that it creates the server, not how
 * it listens to it: it passes its handler to `http.createServer`, which makes it the server's only
 * `request` listener. That is checked here, when the listener is replaced at start: otherwise the start
 * fails with a `StartupError` (two listeners would answer one request twice).
 */
export function wrapRequestListener(
  server: Server,
  fastifyVersion: string,
  wrap: (fastify: RequestListener) => RequestListener,
): void {
  const listeners = server.listeners('request');
  const fastify = listeners[0] as RequestListener | undefined;
  if (fastify === undefined || listeners.length !== 1) {
    throw new StartupError(
      `Fastify ${fastifyVersion} changed what Herald relies on: its server has ${listeners.length} request ` +
        'listeners where the fast paths (fast-path.ts) expect Fastify as the only one; ' +
        'src/http/internals/request-listener.ts needs updating for this version',
    );
  }
  server.removeListener('request', fastify);
  server.on('request', wrap(fastify));
}
