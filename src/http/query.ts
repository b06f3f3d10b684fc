import { parse } from 'fast-querystring';

/**
 * Parses a query string (without the `?`): names to a string, or an array when repeated. The parser is
 * Fastify's own default (its router's `fast-querystring`), given to Fastify explicitly too (`app.ts`), so
 * its routes and the fast paths read a query alike.
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
