import { parse } from 'node:querystring';

/**
 * Parses a query string (without the `?`): names to a string, or an array when repeated. Fastify is given
 * this parser too (`app.ts`), so its routes and the fast paths read a query alike.
 */
export function parseQuery(query: string): Record<string, string | string[]> {
  return parse(query) as Record<string, string | string[]>;
}

/** A query parameter that may be repeated, as a list. */
export function queryList(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** A single query parameter: the first value when repeated. */
export function queryOne(value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : String(first);
}
