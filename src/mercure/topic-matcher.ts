import { isProtocolString } from './strings.js';
import { testWithin } from './time-limit.js';
import { type CompiledTemplate, compileTemplate } from './uri-template.js';
import { type CompiledUrlPattern, compileUrlPattern, testUrlPattern } from './url-pattern.js';

/**
 * Topic matchers: the draft's `exact` and `urlpattern` matcher types, and the older `topic` selectors
 * (an exact topic, an RFC 6570 URI Template, or `*`), which subscriptions and token claims both use.
 */

/** The draft's matcher types, by the name that follows `match_` and that `match_type` carries. */
export const MATCHER_TYPES = ['exact', 'urlpattern'] as const;
/** A matcher type: the draft's two, or `selector` for the older `topic` parameter and string claims. */
export type MatcherType = (typeof MATCHER_TYPES)[number] | 'selector';

/** The reserved matcher that matches every topic, whatever the matcher type. */
export const WILDCARD = '*';

/** Longest matcher pattern accepted (a longer one is refused, 400 or an invalid token). */
export const MAX_PATTERN_LENGTH = 4096;

/** Results kept per matcher that is not linear, so a crafted pattern costs its time limit once per topic. */
const SLOW_RESULTS_KEPT = 1024;
/** Compiled matchers kept for reuse across subscribers and tokens. */
const MATCHERS_KEPT = 10_000;

/** One compiled matcher, shared by every subscriber and token that uses the same type and pattern. */
export class TopicMatcher {
  /** The topic list of the last call and its answer: one message goes to many subscribers in a row. */
  private lastTopics: readonly string[] | null = null;
  private lastAnswer = false;
  private readonly slowResults: Map<string, boolean> | null;

  constructor(
    readonly type: MatcherType,
    readonly pattern: string,
    private readonly test: (topic: string) => boolean,
    /** False when `test` may backtrack: it then runs under the time limit and its results are kept. */
    readonly linear: boolean,
    private readonly onTimeout: () => void,
  ) {
    this.slowResults = linear ? null : new Map();
  }

  /** True when the matcher matches at least one of `topics`. */
  matchesAny(topics: readonly string[]): boolean {
    if (topics === this.lastTopics) return this.lastAnswer;
    let answer = false;
    for (const topic of topics) {
      if (this.matches(topic)) {
        answer = true;
        break;
      }
    }
    this.lastTopics = topics;
    this.lastAnswer = answer;
    return answer;
  }

  /** True when the matcher matches `topic`. */
  matches(topic: string): boolean {
    const slow = this.slowResults;
    if (slow === null) return this.test(topic);
    let answer = slow.get(topic);
    if (answer === undefined) {
      answer = testWithin(() => this.test(topic), this.onTimeout);
      if (slow.size >= SLOW_RESULTS_KEPT) slow.delete(slow.keys().next().value as string);
      slow.set(topic, answer);
    }
    return answer;
  }
}

/** Why a matcher is refused: too long, a forbidden character, or not valid for its type. */
export class InvalidMatcherError extends Error {}

/**
 * Compiles matchers and keeps them for reuse: relative URL patterns and relative topics resolve against
 * `hubUrl`. Bounded: past `MATCHERS_KEPT` the oldest compiled matcher is forgotten (its users keep it).
 */
export class TopicMatchers {
  private readonly compiled = new Map<string, TopicMatcher>();
  private readonly timedOut = (): void => this.onTimeout();

  constructor(
    readonly hubUrl: string,
    /** Told when a matcher ran past its time limit (it then did not match). */
    private readonly onTimeout: () => void = () => {},
  ) {}

  /**
   * The matcher of `type` and `pattern`; throws `InvalidMatcherError` when it cannot be one. With
   * `linearOnly` (what subscribers send), a pattern that could backtrack is refused too: each such matcher
   * costs up to its time limit per message, so anonymous connections holding many would slow every
   * delivery. Tokens, which the application mints, may carry them.
   */
  get(type: MatcherType, pattern: string, linearOnly = false): TopicMatcher {
    const key = `${type}\u0000${pattern}`;
    let matcher = this.compiled.get(key);
    if (matcher === undefined) {
      matcher = this.compile(type, pattern);
      if (this.compiled.size >= MATCHERS_KEPT)
        this.compiled.delete(this.compiled.keys().next().value as string);
      this.compiled.set(key, matcher);
    }
    if (linearOnly && !matcher.linear) {
      throw new InvalidMatcherError(
        `"${pattern}" could take more than linear time to match (a custom regular expression, or wildcards competing for the same characters); this hub takes such matchers from tokens only`,
      );
    }
    return matcher;
  }

  private compile(type: MatcherType, pattern: string): TopicMatcher {
    if (pattern.length > MAX_PATTERN_LENGTH) {
      throw new InvalidMatcherError(`a matcher is at most ${MAX_PATTERN_LENGTH} characters long`);
    }
    if (!isProtocolString(pattern)) {
      throw new InvalidMatcherError('a matcher must not contain control or format characters');
    }
    if (pattern === WILDCARD) return new TopicMatcher(type, pattern, () => true, true, this.timedOut);
    if (type === 'exact') return new TopicMatcher(type, pattern, (t) => t === pattern, true, this.timedOut);
    if (type === 'selector') {
      const template: CompiledTemplate | undefined = pattern.includes('{')
        ? compileTemplate(pattern)
        : undefined;
      if (template === undefined)
        return new TopicMatcher(type, pattern, (t) => t === pattern, true, this.timedOut);
      const regexp = template.regexp;
      return new TopicMatcher(
        type,
        pattern,
        (t) => t === pattern || regexp.test(t),
        template.linear,
        this.timedOut,
      );
    }
    let compiled: CompiledUrlPattern;
    try {
      compiled = compileUrlPattern(pattern, this.hubUrl);
    } catch {
      // The compiler's own words may quote internals; the caller says which matcher, in its own words.
      throw new InvalidMatcherError(`"${pattern}" is not a valid URL pattern`);
    }
    const base = this.hubUrl;
    return new TopicMatcher(
      type,
      pattern,
      (t) => testUrlPattern(compiled, t, base),
      compiled.linear,
      this.timedOut,
    );
  }
}
