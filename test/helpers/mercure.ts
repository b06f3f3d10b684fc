import { SignJWT } from 'jose';
import type { Config } from '../../src/config.js';
import { startHerald, type TestHerald } from './herald.js';

/** The Mercure key of test hubs (HS256; never use it anywhere else). */
export const MERCURE_SECRET = 'test-only-mercure-secret-0123456789abcdef';

/** Starts a production-mode Herald serving Mercure with `MERCURE_SECRET`, and `overrides` on top. */
export function startMercure(overrides: Partial<Config> = {}): Promise<TestHerald> {
  return startHerald({ dev: false, mercurePublisherJwtKey: MERCURE_SECRET, ...overrides });
}

/** A token as Symfony and older hubs mint them: `{"mercure": {...}}`, HS256, `typ: JWT`, no exp. */
export function legacyToken(
  mercure: { publish?: unknown[]; subscribe?: unknown[]; payload?: unknown },
  secret: string = MERCURE_SECRET,
): Promise<string> {
  return new SignJWT({ mercure })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(secret));
}

/** A draft (RFC 9068) access token: `typ: at+jwt`, `authorization_details`, exp in an hour unless given. */
export function accessToken(
  details: readonly Record<string, unknown>[],
  claims: Record<string, unknown> = {},
  secret: string = MERCURE_SECRET,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: 'https://app.example',
    sub: 'user-1',
    client_id: 'https://app.example',
    iat: now,
    jti: `urn:uuid:${crypto.randomUUID()}`,
    exp: now + 3600,
    ...claims,
    authorization_details: details,
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
    .sign(new TextEncoder().encode(secret));
}

/** A Mercure authorization detail granting `actions` on `topics` (each `{match, match_type?}`). */
export function detail(
  actions: string[],
  topics: { match: string; match_type?: string }[],
  payload?: Record<string, unknown>,
): Record<string, unknown> {
  return {
    type: 'https://mercure.rocks/authorization-detail',
    actions,
    topics,
    ...(payload === undefined ? {} : { payload }),
  };
}

/** The hub URL of `base` with the query pairs (repeated names allowed), encoded as `URLSearchParams` does. */
export function hubUrl(base: string, params: [string, string][] = []): string {
  const url = new URL('/.well-known/mercure', base);
  for (const [name, value] of params) url.searchParams.append(name, value);
  return url.href;
}

/** POSTs a form-encoded update; returns status, content type, body text and headers. */
export async function publishForm(
  base: string,
  fields: [string, string][],
  token?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: string; headers: Headers }> {
  const response = await fetch(hubUrl(base), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: new URLSearchParams(fields).toString(),
  });
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: await response.text(),
    headers: response.headers,
  };
}

/** A publisher token allowed to publish anywhere, as Symfony's default `['*']`. */
export const publisherToken = (): Promise<string> => legacyToken({ publish: ['*'] });
