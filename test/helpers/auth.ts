import { SignJWT } from 'jose';
import { mintToken } from '../../src/auth/mint.js';
import { TEST_KEYS } from './herald.js';

/** A token for `sub` signed with the test secret: 1 hour unless `ttlMs` says otherwise. */
export function tokenFor(
  sub: string,
  options: { groups?: string[]; publish?: boolean; admin?: boolean; ttlMs?: number; secret?: string } = {},
): Promise<string> {
  return mintToken(options.secret ?? TEST_KEYS.jwtSecret, {
    sub,
    groups: options.groups,
    publish: options.publish,
    admin: options.admin,
    ttlMs: options.ttlMs ?? 3_600_000,
  });
}

/** A token with arbitrary claims and header, signed HS256-family with `secret` (for the malformed cases). */
export function signClaims(
  claims: Record<string, unknown>,
  options: { alg?: 'HS256' | 'HS384' | 'HS512'; secret?: string | Uint8Array } = {},
): Promise<string> {
  const secret = options.secret ?? TEST_KEYS.jwtSecret;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .sign(typeof secret === 'string' ? new TextEncoder().encode(secret) : secret);
}

/** Seconds since the epoch, for `exp`, `nbf` and `iat` claims. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Base64url of a JSON value, for hand-built tokens. */
export const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** `Authorization: Bearer` headers. */
export const bearer = (credential: string): Record<string, string> => ({
  authorization: `Bearer ${credential}`,
});

/** A parsed JSON response. */
export interface JsonResponse {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions that read them
  readonly body: any;
}

/** Sends a request and parses the JSON answer (problem bodies included). */
export async function request(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  }
  const response = await fetch(url, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Publishes with a credential; fails unless accepted. */
export async function publishAs(base: string, credential: string, message: unknown): Promise<string> {
  const { status, body } = await request(`${base}/messages`, { headers: bearer(credential), body: message });
  if (status !== 202) throw new Error(`publish answered ${status}: ${JSON.stringify(body)}`);
  return body.id as string;
}

/** Waits until `predicate` holds, checking on every turn of the event loop (bounded by `timeoutMs`). */
export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
