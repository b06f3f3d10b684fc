import type { CallerRequest } from './identity.js';

/** Name of the cookie that carries a subscriber token (for `EventSource`, which cannot set headers). */
export const TOKEN_COOKIE = 'herald_token';

/** Where a credential came from; the query string is the least preferred (it ends up in access logs). */
export type CredentialSource = 'header' | 'cookie' | 'query';

/** The `Authorization: Bearer` credential, if any. */
export function bearerOf(request: CallerRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** The value of one cookie, parsed from the `Cookie` header (RFC 6265 §5.4); no dependency needed. */
export function cookieOf(request: CallerRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}

/** A subscriber's token: `Authorization: Bearer`, else the `herald_token` cookie, else `?token=`. */
export function subscriberTokenOf(
  request: CallerRequest,
): { token: string; source: CredentialSource } | undefined {
  const bearer = bearerOf(request);
  if (bearer !== undefined) return { token: bearer, source: 'header' };
  const cookie = cookieOf(request, TOKEN_COOKIE);
  if (cookie !== undefined && cookie !== '') return { token: cookie, source: 'cookie' };
  const query = (request.query as Record<string, unknown> | undefined)?.token;
  const param = Array.isArray(query) ? query[0] : query;
  if (typeof param === 'string' && param !== '') return { token: param, source: 'query' };
  return undefined;
}

/** Hides the value of a `token` query parameter, so URLs can be logged and echoed without it. */
export function redactToken(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1***');
}
