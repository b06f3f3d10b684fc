import { HeraldError, Problems } from '../errors.js';
import { type FormPairs, firstOf } from './form.js';
import { isProtocolString } from './strings.js';
import {
  InvalidMatcherError,
  MATCHER_TYPES,
  type MatcherType,
  type TopicMatcher,
  type TopicMatchers,
} from './topic-matcher.js';

/** Most matchers one subscribe request may carry (400 beyond). */
export const MAX_MATCHERS = 100;

/** One subscription of a connection: the matcher parameter that made it. */
export interface SubscriptionMatcher {
  /** `exact` or `urlpattern` from `match`/`match_<type>`; `selector` from the older `topic`. */
  readonly type: MatcherType;
  readonly pattern: string;
  readonly matcher: TopicMatcher;
}

const invalid = (detail: string, field?: string): HeraldError =>
  new HeraldError(Problems.invalidRequest, detail, field === undefined ? {} : { field });

/**
 * The subscriptions a subscribe request asks for: `match` (exact), `match_<type>` for each supported
 * matcher type, and the older `topic` (exact, URI template or `*`). Any other name in the reserved `match`
 * namespace (compared case-insensitively) is refused, as the draft requires, so a typo fails loudly.
 */
export function matchersOf(pairs: FormPairs, matchers: TopicMatchers): SubscriptionMatcher[] {
  const found: SubscriptionMatcher[] = [];
  for (const [name, value] of pairs) {
    let type: MatcherType | undefined;
    if (name === 'topic') type = 'selector';
    else if (name === 'match') type = 'exact';
    else if (name.toLowerCase().startsWith('match')) {
      const suffix = name.startsWith('match_') ? name.slice(6) : undefined;
      if (suffix === undefined || !(MATCHER_TYPES as readonly string[]).includes(suffix)) {
        throw invalid(
          `unknown matcher parameter "${name}": use match, ${MATCHER_TYPES.map((t) => `match_${t}`).join(', ')} or topic`,
          name,
        );
      }
      type = suffix as MatcherType;
    }
    if (type === undefined) continue;
    if (found.length >= MAX_MATCHERS)
      throw invalid(`at most ${MAX_MATCHERS} matchers per subscription request`, name);
    if (!isProtocolString(value))
      throw invalid(`the ${name} value must not contain control or format characters`, name);
    if (value === '') throw invalid(`the ${name} value must not be empty`, name);
    try {
      found.push({ type, pattern: value, matcher: matchers.get(type, value, true) });
    } catch (error) {
      if (error instanceof InvalidMatcherError) throw invalid(`${name}: ${error.message}`, name);
      throw error;
    }
  }
  if (found.length === 0) {
    throw invalid('name at least one topic: a match, match_urlpattern or topic parameter', 'match');
  }
  return found;
}

/**
 * The resume point a subscriber sends, and whether it sent one at all (then the response carries
 * `Mercure-Last-Event-ID`): the `Last-Event-ID` header wins, then `last_event_id` (the draft's), then
 * `lastEventID` and `Last-Event-ID` (older hubs' query parameters).
 */
export function lastEventIdOf(
  header: string | string[] | undefined,
  pairs: FormPairs,
): { readonly id: string | undefined; readonly present: boolean } {
  const fromHeader = Array.isArray(header) ? header[0] : header;
  if (fromHeader !== undefined && fromHeader !== '') return { id: fromHeader, present: true };
  let present = fromHeader !== undefined;
  for (const name of ['last_event_id', 'lastEventID', 'Last-Event-ID']) {
    const value = firstOf(pairs, name);
    if (value === undefined) continue;
    if (value !== '') return { id: value, present: true };
    present = true;
  }
  return { id: undefined, present };
}
