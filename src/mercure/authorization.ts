import {
  InvalidMatcherError,
  type MatcherType,
  type TopicMatcher,
  type TopicMatchers,
} from './topic-matcher.js';

/**
 * What a Mercure token allows, in one shape for both token generations: the draft's RFC 9396
 * `authorization_details` of type `https://mercure.rocks/authorization-detail`, and the older `mercure`
 * claim (`publish` and `subscribe` arrays of selectors, and `payload`).
 */

/** The authorization detail type the draft defines (compared byte for byte). */
export const MERCURE_DETAIL_TYPE = 'https://mercure.rocks/authorization-detail';

/** Most Mercure details, and most topic matchers across them, one token may carry. */
const MAX_DETAILS = 100;
const MAX_DETAIL_TOPICS = 100;
/** Most selectors in one array of the older `mercure` claim. */
const MAX_CLAIM_SELECTORS = 1000;

/** One grant: actions on the topics its matchers match, and the payload of subscriptions it covers. */
export interface Grant {
  readonly publish: boolean;
  readonly subscribe: boolean;
  readonly matchers: readonly TopicMatcher[];
  readonly payload: unknown;
}

/** A verified token's rights. */
export interface MercureClaims {
  /** `at+jwt`: an RFC 9068 access token (exp, aud, iss checked); `legacy`: a token as older hubs take. */
  readonly generation: 'at+jwt' | 'legacy';
  readonly grants: readonly Grant[];
  /** The older claim's `mercure.payload`: the payload of subscriptions no grant's payload covers. */
  readonly payload: unknown;
  /** When the token expires (ms since the epoch), if it says. */
  readonly expiresAt: number | undefined;
  /** The token's `sub`, if any (logs and rate limits only: subscriber ids are the hub's own). */
  readonly subject: string | undefined;
}

/** A token whose claims cannot be read: answered 401 `invalid_token`, whatever else it grants. */
export class InvalidClaimsError extends Error {}

/** True when the token grants `action` on `topic`. */
export function grants(claims: MercureClaims, action: 'publish' | 'subscribe', topic: string): boolean {
  for (const grant of claims.grants) {
    if (!grant[action]) continue;
    for (const matcher of grant.matchers) if (matcher.matches(topic)) return true;
  }
  return false;
}

/** Every matcher of the token's subscribe grants: what its private updates must match. */
export function subscribeMatchers(claims: MercureClaims | undefined): TopicMatcher[] {
  if (claims === undefined) return [];
  return claims.grants.filter((grant) => grant.subscribe).flatMap((grant) => grant.matchers);
}

/**
 * The payload of a subscription whose own matcher is `pattern`: that of the first subscribe grant one of
 * whose matchers matches the pattern taken as a topic (the draft's rule), else the older `mercure.payload`.
 */
export function payloadOf(claims: MercureClaims | undefined, pattern: string): unknown {
  if (claims === undefined) return undefined;
  for (const grant of claims.grants) {
    if (!grant.subscribe || grant.payload === undefined) continue;
    if (grant.matchers.some((matcher) => matcher.matches(pattern))) return grant.payload;
  }
  return claims.payload;
}

/** Reads the rights of a verified payload; throws `InvalidClaimsError` naming what is wrong. */
export function readClaims(
  payload: Record<string, unknown>,
  generation: MercureClaims['generation'],
  matchers: TopicMatchers,
): MercureClaims {
  const details = payload.authorization_details;
  const expiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  const subject = typeof payload.sub === 'string' ? payload.sub : undefined;
  if (details !== undefined) {
    return { generation, grants: detailGrants(details, matchers), payload: undefined, expiresAt, subject };
  }
  const claim = payload.mercure ?? payload['https://mercure.rocks/'];
  if (claim === undefined) return { generation, grants: [], payload: undefined, expiresAt, subject };
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) {
    throw new InvalidClaimsError('the mercure claim must be an object');
  }
  const { publish, subscribe, payload: fallback } = claim as Record<string, unknown>;
  const result: Grant[] = [];
  const published = selectorList(publish, 'mercure.publish', matchers);
  if (published.length > 0) {
    result.push({
      publish: true,
      subscribe: false,
      matchers: published.map((s) => s.matcher),
      payload: undefined,
    });
  }
  for (const selector of selectorList(subscribe, 'mercure.subscribe', matchers)) {
    result.push({ publish: false, subscribe: true, matchers: [selector.matcher], payload: selector.payload });
  }
  return { generation, grants: result, payload: fallback, expiresAt, subject };
}

function detailGrants(details: unknown, matchers: TopicMatchers): Grant[] {
  if (!Array.isArray(details)) throw new InvalidClaimsError('authorization_details must be an array');
  const result: Grant[] = [];
  let topicCount = 0;
  for (const detail of details) {
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      throw new InvalidClaimsError('each authorization detail must be an object');
    }
    const { type, actions, topics, payload } = detail as Record<string, unknown>;
    if (type !== MERCURE_DETAIL_TYPE) continue;
    if (result.length >= MAX_DETAILS) throw new InvalidClaimsError(`at most ${MAX_DETAILS} Mercure details`);
    if (!Array.isArray(actions) || actions.length === 0 || actions.some((a) => typeof a !== 'string')) {
      throw new InvalidClaimsError('a Mercure detail needs actions: a non-empty array of strings');
    }
    if (!Array.isArray(topics) || topics.length === 0) {
      throw new InvalidClaimsError('a Mercure detail needs topics: a non-empty array of matchers');
    }
    topicCount += topics.length;
    if (topicCount > MAX_DETAIL_TOPICS) {
      throw new InvalidClaimsError(`at most ${MAX_DETAIL_TOPICS} topic matchers across Mercure details`);
    }
    if (
      payload !== undefined &&
      (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    ) {
      throw new InvalidClaimsError('a Mercure detail payload must be an object');
    }
    const compiled = topics.map((topic) => {
      if (typeof topic !== 'object' || topic === null || Array.isArray(topic)) {
        throw new InvalidClaimsError('each topic of a Mercure detail must be an object with match');
      }
      const { match, match_type: matchType = 'exact' } = topic as Record<string, unknown>;
      if (typeof match !== 'string' || match === '') {
        throw new InvalidClaimsError('each topic of a Mercure detail needs a non-empty match string');
      }
      if (matchType !== 'exact' && matchType !== 'urlpattern') {
        throw new InvalidClaimsError(
          `match_type ${JSON.stringify(matchType)} is not supported (exact, urlpattern)`,
        );
      }
      return compile(matchers, matchType, match);
    });
    // Unknown actions grant nothing, as the draft says; they do not invalidate the token.
    result.push({
      publish: actions.includes('publish'),
      subscribe: actions.includes('subscribe'),
      matchers: compiled,
      payload,
    });
  }
  return result;
}

/** One array of the older claim: strings are selectors (exact, URI template or `*`), objects matchers. */
function selectorList(
  value: unknown,
  name: string,
  matchers: TopicMatchers,
): { matcher: TopicMatcher; payload: unknown }[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InvalidClaimsError(`${name} must be an array`);
  if (value.length > MAX_CLAIM_SELECTORS)
    throw new InvalidClaimsError(`${name} has more than ${MAX_CLAIM_SELECTORS} entries`);
  return value.map((entry) => {
    if (typeof entry === 'string')
      return { matcher: compile(matchers, 'selector', entry), payload: undefined };
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new InvalidClaimsError(`${name} entries must be strings or {match, match_type} objects`);
    }
    const { match, match_type: matchType = 'exact', payload } = entry as Record<string, unknown>;
    if (typeof match !== 'string') throw new InvalidClaimsError(`an entry of ${name} has no match string`);
    if (matchType !== 'exact' && matchType !== 'urlpattern') {
      throw new InvalidClaimsError(
        `match_type ${JSON.stringify(matchType)} is not supported (exact, urlpattern)`,
      );
    }
    return { matcher: compile(matchers, matchType, match), payload };
  });
}

function compile(matchers: TopicMatchers, type: MatcherType, pattern: string): TopicMatcher {
  try {
    return matchers.get(type, pattern);
  } catch (error) {
    if (error instanceof InvalidMatcherError) throw new InvalidClaimsError(error.message);
    throw error;
  }
}
