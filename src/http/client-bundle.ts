import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { HeraldError, Problems } from '../errors.js';

/** The browser client's bundle, built by `npm run build` from `client/`. */
export const CLIENT_BUNDLE = fileURLToPath(new URL('../../../client/dist/herald.js', import.meta.url));

/** `GET /herald.js`: the browser client as one ES module, so pages need no build step to use it. */
export function clientBundleRoutes(app: FastifyInstance): void {
  let bundle: Promise<Buffer> | undefined;
  app.get('/herald.js', async (_request, reply) => {
    bundle ??= readFile(CLIENT_BUNDLE);
    let body: Buffer;
    try {
      body = await bundle;
    } catch {
      bundle = undefined;
      throw new HeraldError(Problems.notFound, 'the client bundle is not built: run npm run build');
    }
    // Short caching: the file changes with each Herald release, and the URL does not.
    return reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=300')
      .send(body);
  });
}
