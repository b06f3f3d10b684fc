import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Log } from '../core/ports.js';
import { HeraldError, Problems } from '../errors.js';
import type { HttpDeps } from '../http/deps.js';
import { checkName } from '../protocol/grammar.js';
import { splitPosition } from '../protocol/position.js';
import { payloadOf, subscribeMatchers } from './authorization.js';
import { FormEncodingError, type FormPairs, parseQuery } from './form.js';
import type { MercureHub } from './hub.js';
import { lastEventIdOf, matchersOf, type SubscriptionMatcher } from './matchers-param.js';
import { documentOf, MERCURE_USER_PREFIX } from './subscriptions.js';
import type { TopicMatcher } from './topic-matcher.js';
import {
  logIdOf,
  MercureFilter,
  mercureEncoder,
  mercureGreeting,
  PRIVATE_GROUP,
  PUBLIC_GROUP,
} from './updates.js';

/** The reserved resume value: every update the hub still has. */
export const EARLIEST = 'earliest';

/**
 * `GET /.well-known/mercure`: a Mercure subscription, as a stream of the hub's SSE transport — matched by
 * the connection's `MercureFilter`, encoded by `mercureEncoder`, resumed by `Hub.attach` like any stream.
 */
export async function subscribe(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: HttpDeps,
  hub: MercureHub,
): Promise<void> {
  let pairs: FormPairs;
  try {
    pairs = parseQuery(request.raw.url ?? '');
  } catch (error) {
    if (error instanceof FormEncodingError) throw new HeraldError(Problems.invalidRequest, error.message);
    throw error;
  }
  const claims = await hub.access.claimsOf(request, 'subscriber');
  if (claims === undefined && !hub.options.anonymous) {
    throw hub.access.missing('subscribing needs a Mercure token (Authorization: Bearer, or the cookie)');
  }
  const subscriptions = matchersOf(pairs, hub.matchers);
  const grants = subscribeMatchers(claims);
  const subscriber = `urn:uuid:${randomUUID()}`;
  const groups = [
    PUBLIC_GROUP,
    ...(grants.length > 0 ? [PRIVATE_GROUP] : []),
    ...heraldGroups(subscriptions, grants),
  ];
  const audience = { userId: MERCURE_USER_PREFIX + subscriber, groups };
  const resume = lastEventIdOf(request.headers['last-event-id'], pairs);
  let lastEventId: string | undefined;
  if (resume.present) {
    const answer = await resumeOf(resume.id, deps.log, audience);
    lastEventId = answer.from;
    reply.header('mercure-last-event-id', answer.header);
  }
  const registry = hub.registry;
  const docs =
    registry === undefined
      ? []
      : subscriptions.map((s) => documentOf(s, subscriber, true, payloadOf(claims, s.pattern)));
  const sub = deps.guard.open(
    request,
    reply,
    { ...audience, expiresAt: claims?.expiresAt },
    {
      lastEventId,
      encoder: mercureEncoder,
      greeting: () => mercureGreeting(hub.options.retryMs),
      filter: new MercureFilter(
        subscriptions.map((s) => s.matcher),
        grants,
      ),
      onClose: registry === undefined ? undefined : () => registry.closed(subscriber),
    },
  );
  if (registry !== undefined && !sub.closed) registry.opened(subscriber, docs);
}

/**
 * Where a resume starts, and the `Mercure-Last-Event-ID` answer: the id the client sent when the log knows
 * it; `earliest` when it asked for everything, sent nothing usable, or sent an id the log no longer (or
 * never) had — the stream then starts where it can, and the client knows it may have missed updates.
 */
async function resumeOf(
  id: string | undefined,
  log: Log,
  audience: { userId: string; groups: readonly string[] },
): Promise<{ from: string | undefined; header: string }> {
  if (id === undefined) return { from: undefined, header: EARLIEST };
  if (id === EARLIEST) return { from: startOf(await log.head()), header: EARLIEST };
  const from = logIdOf(id);
  const probe = await log.readAfter(from, audience, 1);
  return { from, header: probe.kind === 'gap' ? EARLIEST : id };
}

/**
 * The position before the first of the log whose head is `head`: its epoch, and the backend's first key
 * (`0`, or `0-0` for a stream id). Reading after it replays all history while the log still holds its
 * start; once retention trimmed it, the read is an `expired` gap and the stream starts live.
 */
function startOf(head: string): string | undefined {
  const split = splitPosition(head);
  if (split === undefined) return undefined;
  return `${split.epoch}-${split.key.includes('-') ? '0-0' : '0'}`;
}

/**
 * Herald groups a Mercure connection also joins, so Herald's own messages to them reach it: each exact
 * `group:<name>` topic it subscribes to that its token allows it to read.
 */
function heraldGroups(
  subscriptions: readonly SubscriptionMatcher[],
  grants: readonly TopicMatcher[],
): string[] {
  const groups = new Set<string>();
  for (const { type, pattern } of subscriptions) {
    if (type === 'urlpattern' || !pattern.startsWith('group:')) continue;
    const name = pattern.slice(6);
    if (checkName(name, 'group') !== undefined) continue;
    if (grants.some((grant) => grant.matches(pattern))) groups.add(name);
  }
  return [...groups];
}
