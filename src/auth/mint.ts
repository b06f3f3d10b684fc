import { SignJWT } from 'jose';
import { HERALD_CLAIM, MIN_SECRET_LENGTH } from './verify.js';

/** What a development token grants. */
export interface TokenGrant {
  readonly sub: string;
  readonly groups?: readonly string[] | undefined;
  /** Adds `"herald": { "publish": true }`. */
  readonly publish?: boolean;
  /** Adds `"herald": { "admin": true }` (the admin API and dashboard; implies publishing). */
  readonly admin?: boolean;
  /** Lifetime in milliseconds. */
  readonly ttlMs: number;
}

/**
 * Mints an HS256 token with `secret`: what `herald token` prints, and what a backend's own code would do
 * (any JWT library produces the same token).
 */
export async function mintToken(secret: string, grant: TokenGrant): Promise<string> {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`the secret must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  if (grant.groups !== undefined) claims.groups = [...grant.groups];
  const permissions: Record<string, boolean> = {};
  if (grant.publish === true) permissions.publish = true;
  if (grant.admin === true) permissions.admin = true;
  if (Object.keys(permissions).length > 0) claims[HERALD_CLAIM] = permissions;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(grant.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.max(1, Math.round(grant.ttlMs / 1000)))
    .sign(new TextEncoder().encode(secret));
}
