import type { IncomingHttpHeaders } from 'node:http';
import { HeraldError, Problems } from '../errors.js';
import { checkName } from '../protocol/grammar.js';
import { queryList, queryOne } from './query.js';

/** Who a stream is for: the user and the groups the connection joins. */
export interface Subscriber {
  readonly userId: string;
  readonly groups: readonly string[];
  /** When the credential stops being valid (ms since the epoch): the stream is closed then. */
  readonly expiresAt?: number | undefined;
}

/** Who publishes: the key publish rate limits are counted under. */
export interface Publisher {
  /** `key:publish`, `key:admin`, `token:<sub>`, or `ip:<address>` in development mode. */
  readonly id: string;
}

/** What a client asked for: a user id (when the route names one) and groups. */
export interface SubscribeRequest {
  readonly userId?: string | undefined;
  readonly groups: readonly string[];
}

/**
 * What identity providers read of a request. `FastifyRequest` satisfies it, and so does the plain object
 * the `POST /messages` fast path builds (`fast-publish.ts`), which has no Fastify request.
 */
export interface CallerRequest {
  readonly headers: IncomingHttpHeaders;
  /** The parsed query string: names to a string, or an array when repeated. */
  readonly query: unknown;
  /** The client address (after `trustProxy`). */
  readonly ip: string;
}

/**
 * The identity seam: every route asks it who the caller is and whether it may act.
 * Implementations: development (`?user=`), JWT.
 */
export interface IdentityProvider {
  /** Resolves a subscriber or throws a `HeraldError` (400, 401, 403). */
  subscriber(request: CallerRequest, wanted: SubscribeRequest): Promise<Subscriber>;
  /** Resolves when the caller may publish, read presence and close connections; throws otherwise. */
  publisher(request: CallerRequest): Promise<Publisher>;
  /** Resolves when the caller may use the admin API and dashboard; throws otherwise. */
  admin(request: CallerRequest): Promise<void>;
}

/** Development mode: the user id and groups are whatever the client says. Never in production. */
export class DevIdentity implements IdentityProvider {
  async subscriber(_request: CallerRequest, wanted: SubscribeRequest): Promise<Subscriber> {
    if (wanted.userId === undefined) {
      throw new HeraldError(
        Problems.invalidRequest,
        'the user query parameter is required in development mode',
        {
          field: 'user',
        },
      );
    }
    const userProblem = checkName(wanted.userId, 'user');
    if (userProblem !== undefined)
      throw new HeraldError(Problems.invalidRequest, userProblem, { field: 'user' });
    for (const group of wanted.groups) {
      const groupProblem = checkName(group, 'group');
      if (groupProblem !== undefined)
        throw new HeraldError(Problems.invalidRequest, groupProblem, { field: 'group' });
    }
    return { userId: wanted.userId, groups: [...new Set(wanted.groups)] };
  }

  async publisher(request: CallerRequest): Promise<Publisher> {
    return { id: `ip:${request.ip}` };
  }

  async admin(_request: CallerRequest): Promise<void> {}
}

/**
 * The subscriber of a native stream or poll: `?user=` and repeated `?group=` say what the client asks for,
 * the identity provider decides what it gets.
 */
export function subscriberOf(identity: IdentityProvider, request: CallerRequest): Promise<Subscriber> {
  const query = request.query as Record<string, unknown>;
  return identity.subscriber(request, { userId: queryOne(query.user), groups: queryList(query.group) });
}
