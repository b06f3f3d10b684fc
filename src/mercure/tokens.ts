import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import { InvalidClaimsError, type MercureClaims, readClaims } from './authorization.js';
import type { TopicMatchers } from './topic-matcher.js';

/**
 * Verifies Mercure tokens as Mercure hubs accept them today: HS256 secrets, RS256/ES256/EdDSA public keys
 * and a JWKS, one key per role (publisher, subscriber; each falls back to the other). A token whose `typ`
 * is `at+jwt` is an RFC 9068 access token: `exp` is required, and `aud` and `iss` must be the hub's when
 * configured. Any other token is one of the older generation: `exp` is optional (Symfony's default tokens
 * have none), checked when present.
 */

/** Shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash's 256 bits). */
export const MIN_SECRET_LENGTH = 32;

export type Role = 'publisher' | 'subscriber';

/** A key and the only algorithms it verifies: pinning them defeats algorithm confusion. */
interface KeySource {
  readonly algorithms: readonly string[];
  readonly key: Uint8Array | KeyObject | JWTVerifyGetKey;
  readonly remote: boolean;
}

/** What the verifier is configured with (the `--mercure-*` options). */
export interface MercureKeyOptions {
  readonly publisherKey?: string | undefined;
  readonly subscriberKey?: string | undefined;
  readonly jwksUrl?: string | undefined;
  readonly audience?: string | undefined;
  readonly issuer?: string | undefined;
  readonly clockSkewMs: number;
}

/** A bad key option, raised at start; the message names the option. */
export class MercureKeyError extends Error {}

/** A token that does not verify: 401 `invalid_token`. The detail says why, without secrets. */
export class InvalidTokenError extends Error {}

/** The JWKS cannot be fetched: 503, retry later. */
export class KeysUnavailableError extends Error {}

/** True when at least one Mercure key option is set: only then is the hub served. */
export function mercureConfigured(options: Omit<MercureKeyOptions, 'clockSkewMs'>): boolean {
  return (
    options.publisherKey !== undefined || options.subscriberKey !== undefined || options.jwksUrl !== undefined
  );
}

/** Verifies tokens for one hub. */
export class MercureVerifier {
  private readonly sources: Record<Role, KeySource[]>;

  constructor(
    private readonly options: MercureKeyOptions,
    private readonly matchers: TopicMatchers,
  ) {
    const publisher = options.publisherKey ?? options.subscriberKey;
    const subscriber = options.subscriberKey ?? options.publisherKey;
    const jwks = options.jwksUrl === undefined ? [] : [jwksSource(options.jwksUrl)];
    this.sources = {
      publisher: [
        ...(publisher === undefined ? [] : [keySource(publisher, optionOf(options, 'publisher'))]),
        ...jwks,
      ],
      subscriber: [
        ...(subscriber === undefined ? [] : [keySource(subscriber, optionOf(options, 'subscriber'))]),
        ...jwks,
      ],
    };
  }

  /** Verifies `token` for `role` and reads its rights; throws `InvalidTokenError` or `KeysUnavailableError`. */
  async verify(token: string, role: Role): Promise<MercureClaims> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new InvalidTokenError('the token is not a well-formed JWT');
    }
    const alg = header.alg;
    const sources = this.sources[role].filter((s) => typeof alg === 'string' && s.algorithms.includes(alg));
    if (sources.length === 0) {
      throw new InvalidTokenError(`the token algorithm ${JSON.stringify(alg)} is not accepted for ${role}s`);
    }
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : '';
    const generation = typ === 'at+jwt' ? 'at+jwt' : 'legacy';
    const checks: JWTVerifyOptions = {
      clockTolerance: Math.floor(this.options.clockSkewMs / 1000),
      ...(generation === 'at+jwt'
        ? {
            requiredClaims: ['exp'],
            ...(this.options.audience === undefined ? {} : { audience: this.options.audience }),
            ...(this.options.issuer === undefined ? {} : { issuer: this.options.issuer }),
          }
        : {}),
    };
    let lastError: unknown;
    for (const source of sources) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, source.key as Uint8Array, {
          ...checks,
          algorithms: [...source.algorithms],
        }));
      } catch (error) {
        lastError =
          source.remote && !(error instanceof errors.JOSEError)
            ? new KeysUnavailableError('the Mercure JWKS endpoint cannot be reached')
            : error;
        continue;
      }
      try {
        return readClaims(payload as Record<string, unknown>, generation, this.matchers);
      } catch (error) {
        if (error instanceof InvalidClaimsError) throw new InvalidTokenError(error.message);
        throw error;
      }
    }
    throw explain(lastError);
  }
}

function optionOf(options: MercureKeyOptions, role: Role): string {
  const own = role === 'publisher' ? options.publisherKey : options.subscriberKey;
  return own === undefined
    ? `--mercure-${role === 'publisher' ? 'subscriber' : 'publisher'}-jwt-key`
    : `--mercure-${role}-jwt-key`;
}

/**
 * A key option: PEM text (inline, as environment variables often carry it, or in the file it names) is a
 * public key; anything else is an HS256 secret.
 */
function keySource(value: string, option: string): KeySource {
  let pem: string | undefined;
  if (value.includes('-----BEGIN')) pem = value;
  else if (existsSync(value)) {
    const text = readFileSync(value, 'utf8');
    if (!text.includes('-----BEGIN'))
      throw new MercureKeyError(`invalid ${option}: ${value} holds no PEM key`);
    pem = text;
  }
  if (pem === undefined) {
    if (value.length < MIN_SECRET_LENGTH) {
      throw new MercureKeyError(
        `invalid ${option}: an HS256 secret must be at least ${MIN_SECRET_LENGTH} characters (or give a PEM key or its path)`,
      );
    }
    return { algorithms: ['HS256'], key: new TextEncoder().encode(value), remote: false };
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new MercureKeyError(`invalid ${option}: not a PEM public key or certificate`);
  }
  if (key.asymmetricKeyType === 'rsa') return { algorithms: ['RS256'], key, remote: false };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { algorithms: ['ES256'], key, remote: false };
  }
  if (key.asymmetricKeyType === 'ed25519') return { algorithms: ['EdDSA', 'Ed25519'], key, remote: false };
  throw new MercureKeyError(`invalid ${option}: expected an RSA, EC P-256 or Ed25519 public key`);
}

function jwksSource(url: string): KeySource {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MercureKeyError(`invalid --mercure-jwks-url=${JSON.stringify(url)}: not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new MercureKeyError(`invalid --mercure-jwks-url=${JSON.stringify(url)}: expected https://`);
  }
  return {
    algorithms: ['RS256', 'ES256', 'EdDSA', 'Ed25519'],
    key: createRemoteJWKSet(parsed, { cooldownDuration: 30_000, timeoutDuration: 5000 }),
    remote: true,
  };
}

/** A `jose` failure as a secret-free reason; anything else is a bug and is rethrown. */
function explain(error: unknown): Error {
  if (error instanceof KeysUnavailableError || error instanceof InvalidTokenError) return error;
  if (error instanceof errors.JWTExpired) return new InvalidTokenError('the token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return new InvalidTokenError('the token is not valid yet (nbf)');
    if (error.reason === 'missing') return new InvalidTokenError(`the token has no ${error.claim} claim`);
    return new InvalidTokenError(`the token ${error.claim} claim is not accepted`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new InvalidTokenError('the token signature does not verify');
  }
  if (error instanceof errors.JWKSNoMatchingKey)
    return new InvalidTokenError('no key of the JWKS matches the token');
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return new KeysUnavailableError('the Mercure JWKS endpoint did not answer with keys');
  }
  if (error instanceof errors.JOSEError) return new InvalidTokenError('the token is not accepted');
  throw error;
}
