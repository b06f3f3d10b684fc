import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from '../http/deps.js';
import { MERCURE_DETAIL_TYPE } from './authorization.js';
import { METADATA_PATH, type MercureHub } from './hub.js';
import { publish } from './publish-route.js';
import { HUB_PATH, SUBSCRIPTIONS_PATH } from './strings.js';
import { subscribe } from './subscribe-route.js';
import { subscriptionsApi } from './subscriptions-api.js';

/**
 * The Mercure hub's routes, in their own Fastify scope (the only one that reads form bodies): subscribe,
 * publish, the subscriptions API and the protected resource metadata. An adapter of `buildApp`.
 */
export function mercureRoutes(hub: MercureHub): (app: FastifyInstance, deps: HttpDeps) => void {
  return (app, deps) => {
    app.register(async (scope) => {
      scope.addContentTypeParser(
        'application/x-www-form-urlencoded',
        { parseAs: 'buffer' },
        (_request, body, done) => done(null, body),
      );
      scope.get(HUB_PATH, (request, reply) => subscribe(request, reply, deps, hub));
      scope.post(HUB_PATH, (request, reply) => publish(request, reply, deps, hub));
      const registry = hub.registry;
      if (registry !== undefined) {
        for (const path of ['', '/:a', '/:a/:b', '/:a/:b/:c']) {
          scope.get<{ Params: { a?: string; b?: string; c?: string } }>(
            `${SUBSCRIPTIONS_PATH}${path}`,
            (request, reply) => subscriptionsApi(request, reply, hub, registry, deps.hub.lastPosition),
          );
        }
      }
      if (hub.hubUrl.known) {
        scope.get(METADATA_PATH, async () => ({
          resource: hub.options.audience,
          ...(hub.options.issuer === undefined ? {} : { authorization_servers: [hub.options.issuer] }),
          authorization_details_types_supported: [MERCURE_DETAIL_TYPE],
          bearer_methods_supported: ['header'],
          mercure_cookie: hub.options.cookieName,
          mercure_matcher_types_supported: ['exact', 'urlpattern'],
          ...(registry === undefined ? {} : { mercure_subscriptions: true }),
        }));
      }
    });
  };
}
