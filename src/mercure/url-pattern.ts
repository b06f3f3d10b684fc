import { URLPattern } from 'urlpattern-polyfill/urlpattern';

/**
 * URL Pattern matchers (`match_urlpattern`), on the URL Pattern standard's polyfill (Node 20 and 22 have
 * no global `URLPattern`): relative patterns and topics resolve against the hub's URL; `ignoreCase` is off.
 */

/** A compiled URL pattern and whether matching it costs time linear in the topic. */
export interface CompiledUrlPattern {
  readonly pattern: URLPattern;
  /** False for patterns a crafted one could make backtrack (custom regexps, competing wildcards). */
  readonly linear: boolean;
}

const COMPONENTS = [
  'protocol',
  'username',
  'password',
  'hostname',
  'port',
  'pathname',
  'search',
  'hash',
] as const;

/** Compiles `source` against `baseUrl`; throws a `TypeError` when it is not a valid URL pattern. */
export function compileUrlPattern(source: string, baseUrl: string): CompiledUrlPattern {
  const pattern = new URLPattern(source, baseUrl);
  const hasRegExpGroups = (pattern as unknown as { hasRegExpGroups?: boolean }).hasRegExpGroups === true;
  const linear = !hasRegExpGroups && COMPONENTS.every((name) => componentIsLinear(pattern[name], name));
  return { pattern, linear };
}

/** True when `topic`, resolved against `baseUrl`, matches; a topic that is no URL matches nothing. */
export function testUrlPattern(compiled: CompiledUrlPattern, topic: string, baseUrl: string): boolean {
  try {
    return compiled.pattern.test(topic, baseUrl);
  } catch {
    return false;
  }
}

/**
 * Whether one component's pattern compiles to a regular expression without competing variable parts: at
 * most one part that can take a run of any length (a `*` wildcard, a repeated group, or a named group
 * that does not fill a whole path segment). Named groups alone in their segment (`/books/:id`) stop at the
 * next `/` and add nothing. Anything less plain (groups in braces, custom regexps) counts as competing.
 */
function componentIsLinear(source: string, name: (typeof COMPONENTS)[number]): boolean {
  // A group of plain text (`{/}?`, `{.json}?`) is text that may be absent: as cheap as text.
  const component = source.replace(/\{([^{}():*\\]*)\}[?]?/g, '$1');
  if (component.includes('(') || component.includes('{')) return false;
  let open = 0;
  const segments = name === 'pathname' ? component.split('/') : [component];
  for (const segment of segments) {
    const parts = segment.match(/\*|:[$_\p{ID_Start}](?:[$\p{ID_Continue}]|\u200C|\u200D)*[?+*]?/gu) ?? [];
    for (const part of parts) {
      const whole = name === 'pathname' && part === segment;
      if (part === '*' || part.endsWith('+') || part.endsWith('*') || !whole) open++;
    }
  }
  return open <= 1;
}
