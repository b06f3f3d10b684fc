import type { FastifyReply, FastifyRequest } from 'fastify';
import { HeraldError, Problems } from '../errors.js';
import { grants } from './authorization.js';
import { discoveryLink } from './discovery.js';
import type { MercureHub } from './hub.js';
import { MERCURE_CONTEXT, type SubscriptionDocument, type SubscriptionRegistry } from './subscriptions.js';
import { MATCHER_TYPES } from './topic-matcher.js';
import { mercureId } from './updates.js';

/** The path parameters of the four subscriptions API routes (each decoded once by the router). */
interface Params {
  readonly a?: string;
  readonly b?: string;
  readonly c?: string;
}

/**
 * The subscriptions API: `/.well-known/mercure/subscriptions[/…]`, listing the cluster's active
 * subscriptions. The requested path must be granted `subscribe` by the token, as a topic. A token of the
 * draft gets its JSON documents (`application/json`); an older token the JSON-LD of older hubs
 * (`application/ld+json`, `@context`, `lastEventID`). Both carry the cursor on the `Link` header.
 */
export async function subscriptionsApi(
  request: FastifyRequest<{ Params: Params }>,
  reply: FastifyReply,
  hub: MercureHub,
  registry: SubscriptionRegistry,
  lastPosition: string,
): Promise<unknown> {
  const claims = await hub.access.claimsOf(request, 'subscriber');
  if (claims === undefined) throw hub.access.missing('the subscriptions API needs a Mercure token');
  const url = request.raw.url ?? '';
  const path = url.split('?')[0] as string;
  if (!grants(claims, 'subscribe', path)) {
    throw hub.access.insufficient(`the token does not allow subscribing to ${path}`);
  }
  const { a, b, c } = request.params;
  const all = await registry.list();
  let selected: SubscriptionDocument[];
  let single = false;
  if (a === undefined) selected = all;
  else if (b === undefined) selected = all.filter((d) => d.topic === a);
  else if (c === undefined && !(MATCHER_TYPES as readonly string[]).includes(a)) {
    selected = all.filter((d) => d.topic === a && d.subscriber === b);
    single = true;
  } else if (c === undefined) selected = all.filter((d) => d.match_type === a && d.match === b);
  else {
    selected = all.filter((d) => d.match_type === a && d.match === b && d.subscriber === c);
    single = true;
  }
  if (single && selected.length === 0)
    throw new HeraldError(Problems.notFound, `no active subscription ${path}`);
  const lastEventId = mercureId(lastPosition);
  const legacy = claims.generation === 'legacy';
  reply
    .header(
      'link',
      discoveryLink(hub.advertisedUrl, { lastEventId, type: 'mercure', contentType: 'application/json' }),
    )
    .header('cache-control', 'must-revalidate')
    .type(legacy ? 'application/ld+json' : 'application/json');
  const context = legacy ? { '@context': MERCURE_CONTEXT } : {};
  const cursor = legacy ? { lastEventID: lastEventId } : {};
  if (single) return { ...context, ...selected[0], ...cursor };
  return {
    ...context,
    id: path,
    type: legacy ? 'Subscriptions' : 'subscriptions',
    ...cursor,
    subscriptions: selected,
  };
}
