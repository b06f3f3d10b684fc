import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenVerifier } from '../auth/verify.js';
import { HeraldError, Problems } from '../errors.js';
import { checkName } from '../protocol/grammar.js';
import { bearerOf, subscriberTokenOf } from './credentials.js';
import type { CallerRequest, IdentityProvider, Publisher, SubscribeRequest, Subscriber } from './identity.js';

/** The static keys a server may accept besides tokens. */
export interface StaticKeys {
  readonly publishKey?: string | undefined;
  readonly adminKey?: string | undefined;
}

/**
 * Production identity: subscribers present a JWT (header, `herald_token` cookie, or `?token=`);
 * publishers present a JWT with `"herald": {"publish": true}`, the publish key or the admin key
 * (header only: publishers are backends).
 */
export class TokenIdentity implements IdentityProvider {
  private readonly publishKey: Buffer | undefined;
  private readonly adminKey: Buffer | undefined;

  constructor(
    private readonly verifier: TokenVerifier,
    keys: StaticKeys = {},
  ) {
    this.publishKey = keys.publishKey === undefined ? undefined : digest(keys.publishKey);
    this.adminKey = keys.adminKey === undefined ? undefined : digest(keys.adminKey);
  }

  async subscriber(request: CallerRequest, wanted: SubscribeRequest): Promise<Subscriber> {
    const found = subscriberTokenOf(request);
    if (found === undefined) {
      throw new HeraldError(
        Problems.unauthorized,
        'a token is required: Authorization: Bearer <token>, the herald_token cookie, or ?token=',
      );
    }
    const token = await this.verifier.verify(found.token);
    if (wanted.userId !== undefined && wanted.userId !== token.sub) {
      throw new HeraldError(
        Problems.forbidden,
        `the token is for user "${token.sub}", not "${wanted.userId}"`,
        {
          field: 'user',
        },
      );
    }
    for (const group of wanted.groups) {
      const problem = checkName(group, 'group');
      if (problem !== undefined) throw new HeraldError(Problems.invalidRequest, problem, { field: 'group' });
    }
    const allowed = token.groups ?? [];
    const refused = [...new Set(wanted.groups.filter((group) => !allowed.includes(group)))];
    if (refused.length > 0) {
      throw new HeraldError(
        Problems.forbidden,
        `the token does not allow the group${refused.length > 1 ? 's' : ''} ${refused.map((g) => `"${g}"`).join(', ')}`,
        { field: 'group', groups: refused },
      );
    }
    // No groups asked for: the connection joins every group the token lists.
    const groups = wanted.groups.length > 0 ? [...new Set(wanted.groups)] : [...new Set(allowed)];
    return { userId: token.sub, groups, expiresAt: token.expiresAt };
  }

  async publisher(request: CallerRequest): Promise<Publisher> {
    const bearer = bearerOf(request);
    if (bearer === undefined) {
      throw new HeraldError(
        Problems.unauthorized,
        'publishing needs Authorization: Bearer with the publish key, the admin key or a publish token',
      );
    }
    const presented = digest(bearer);
    if (this.adminKey !== undefined && timingSafeEqual(presented, this.adminKey)) return { id: 'key:admin' };
    if (this.publishKey !== undefined && timingSafeEqual(presented, this.publishKey))
      return { id: 'key:publish' };
    if (!bearer.includes('.')) throw new HeraldError(Problems.unauthorized, 'the key is not accepted');
    const token = await this.verifier.verify(bearer);
    if (!token.publish) {
      throw new HeraldError(
        Problems.forbidden,
        'the token has no publish permission ("herald": {"publish": true})',
      );
    }
    return { id: `token:${token.sub}` };
  }

  async admin(request: CallerRequest): Promise<void> {
    const bearer = bearerOf(request);
    if (bearer === undefined) {
      throw new HeraldError(Problems.unauthorized, 'the admin API needs Authorization: Bearer <admin key>');
    }
    if (this.adminKey !== undefined && timingSafeEqual(digest(bearer), this.adminKey)) return;
    if (bearer.includes('.')) {
      const token = await this.verifier.verify(bearer);
      if (token.admin) return;
      throw new HeraldError(
        Problems.forbidden,
        'the token has no admin permission ("herald": {"admin": true})',
      );
    }
    // A valid publisher key is known but not enough (403); anything else is not a credential (401).
    await this.publisher(request);
    throw new HeraldError(Problems.forbidden, 'only the admin key or an admin token opens the admin API');
  }
}

/** Comparing fixed-length digests in constant time hides both the key and its length. */
function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
