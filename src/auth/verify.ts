import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { HeraldError, Problems } from '../errors.js';
import { checkName } from '../protocol/grammar.js';

/** Shortest HS256 secret accepted: RFC 7518 §3.2 asks for a key at least as long as the hash (256 bits). */
export const MIN_SECRET_LENGTH = 32;

/** Name of the private claim that carries Herald's permissions: `"herald": { "publish": true, "admin": true }`. */
export const HERALD_CLAIM = 'herald';

/** Where tokens are verified: any of the three key sources, each with its pinned algorithms. */
export interface KeyOptions {
  /** HS256 shared secret. */
  readonly secret?: string | undefined;
  /** Path to a PEM public key (or certificate): RSA → RS256, EC P-256 → ES256. */
  readonly publicKeyPath?: string | undefined;
  /** JWKS endpoint; keys are picked by `kid` and refetched when a token names an unknown one. */
  readonly jwksUrl?: string | undefined;
  /** Least time between two JWKS fetches, in milliseconds. */
  readonly jwksCooldownMs?: number;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
  /** Tolerated clock difference on `exp` and `nbf`, in milliseconds. */
  readonly clockSkewMs: number;
}

/** What a verified token says. */
export interface VerifiedToken {
  /** The `sub` claim: the user id. */
  readonly sub: string;
  /** The `groups` claim, or `undefined` when the token has none. */
  readonly groups: readonly string[] | undefined;
  /** Whether `herald.publish` is `true`. */
  readonly publish: boolean;
  /** Whether `herald.admin` is `true`: the dashboard and admin API (and publishing). */
  readonly admin: boolean;
  /** When the token stops being accepted (its `exp` plus the clock skew), in milliseconds since the epoch. */
  readonly expiresAt: number;
}

/** A key source and the only algorithms it may verify: pinning them is what defeats algorithm confusion. */
interface KeySource {
  readonly name: string;
  readonly algorithms: readonly string[];
  readonly key: Uint8Array | KeyObject | JWTVerifyGetKey;
}

/** A bad key option: thrown at start, one line naming the option. */
export class KeyConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Verifies tokens against the configured keys. `alg: none`, algorithms other than those pinned to
 * each key type, tokens without `sub` or `exp`, and malformed claims are refused with a 401.
 */
export class TokenVerifier {
  private readonly sources: KeySource[] = [];

  constructor(private readonly options: KeyOptions) {
    if (options.secret !== undefined) {
      if (options.secret.length < MIN_SECRET_LENGTH) {
        throw new KeyConfigError(
          `invalid --jwt-secret: must be at least ${MIN_SECRET_LENGTH} characters (try: openssl rand -base64 32)`,
        );
      }
      this.sources.push({
        name: 'secret',
        algorithms: ['HS256'],
        key: new TextEncoder().encode(options.secret),
      });
    }
    if (options.publicKeyPath !== undefined) this.sources.push(pemSource(options.publicKeyPath));
    if (options.jwksUrl !== undefined) {
      let url: URL;
      try {
        url = new URL(options.jwksUrl);
      } catch {
        throw new KeyConfigError(`invalid --jwks-url=${JSON.stringify(options.jwksUrl)}: not a URL`);
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        throw new KeyConfigError(`invalid --jwks-url=${JSON.stringify(options.jwksUrl)}: expected https://`);
      }
      this.sources.push({
        name: 'jwks',
        algorithms: ['RS256', 'ES256'],
        key: createRemoteJWKSet(url, {
          cooldownDuration: options.jwksCooldownMs ?? 30_000,
          timeoutDuration: 5000,
        }),
      });
    }
  }

  /** Whether any key is configured. */
  get configured(): boolean {
    return this.sources.length > 0;
  }

  /** Every algorithm some key accepts. */
  get algorithms(): string[] {
    return [...new Set(this.sources.flatMap((s) => s.algorithms))];
  }

  /** Verifies `token`; throws a `HeraldError` (401, or 503 when a JWKS cannot be fetched) saying why not. */
  async verify(token: string): Promise<VerifiedToken> {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized('the token is not a well-formed JWT');
    }
    const sources = this.sources.filter((s) => typeof alg === 'string' && s.algorithms.includes(alg));
    if (sources.length === 0) {
      throw unauthorized(
        `token algorithm ${JSON.stringify(alg)} is not accepted (accepted: ${this.algorithms.join(', ')})`,
      );
    }
    let lastError: unknown;
    for (const source of sources) {
      try {
        const { payload } = await jwtVerify(token, source.key as Uint8Array, {
          algorithms: [...source.algorithms],
          clockTolerance: Math.floor(this.options.clockSkewMs / 1000),
          requiredClaims: ['sub', 'exp'],
          ...(this.options.issuer === undefined ? {} : { issuer: this.options.issuer }),
          ...(this.options.audience === undefined ? {} : { audience: this.options.audience }),
        });
        return this.claimsOf(payload);
      } catch (error) {
        // A JWKS endpoint that cannot be reached fails with fetch's own error, not a `jose` one.
        lastError =
          source.name === 'jwks' && !(error instanceof errors.JOSEError) && !(error instanceof HeraldError)
            ? new HeraldError(Problems.authUnavailable, 'the JWKS endpoint cannot be reached', {
                retryAfter: 5,
              })
            : error;
      }
    }
    throw explain(lastError);
  }

  private claimsOf(payload: JWTPayload): VerifiedToken {
    const sub = payload.sub as string;
    const subProblem = checkName(sub, 'the token sub');
    if (subProblem !== undefined) throw unauthorized(subProblem);
    let groups: string[] | undefined;
    if (payload.groups !== undefined) {
      if (!Array.isArray(payload.groups)) throw unauthorized('the token groups claim must be an array');
      for (const group of payload.groups) {
        const problem = checkName(group, 'a group of the token groups claim');
        if (problem !== undefined) throw unauthorized(problem);
      }
      groups = payload.groups as string[];
    }
    const herald = payload[HERALD_CLAIM];
    const permissions =
      typeof herald === 'object' && herald !== null ? (herald as Record<string, unknown>) : {};
    const admin = permissions.admin === true;
    return {
      sub,
      groups,
      publish: admin || permissions.publish === true,
      admin,
      expiresAt: (payload.exp as number) * 1000 + this.options.clockSkewMs,
    };
  }
}

function pemSource(path: string): KeySource {
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(path));
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? 'not a PEM public key';
    throw new KeyConfigError(`invalid --jwt-public-key=${JSON.stringify(path)}: ${why}`);
  }
  if (key.asymmetricKeyType === 'rsa') return { name: 'pem', algorithms: ['RS256'], key };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { name: 'pem', algorithms: ['ES256'], key };
  }
  throw new KeyConfigError(
    `invalid --jwt-public-key=${JSON.stringify(path)}: expected an RSA (RS256) or EC P-256 (ES256) key`,
  );
}

const unauthorized = (detail: string): HeraldError => new HeraldError(Problems.unauthorized, detail);

/** Turns a `jose` failure into a precise, secret-free reason; anything else is a bug and is rethrown. */
function explain(error: unknown): HeraldError {
  if (error instanceof HeraldError) return error;
  if (error instanceof errors.JWTExpired) return unauthorized('the token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return unauthorized('the token is not valid yet (nbf is in the future)');
    if (error.reason === 'missing') return unauthorized(`the token has no ${error.claim} claim`);
    return unauthorized(`the token ${error.claim} claim is not accepted`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return unauthorized('the token signature does not verify');
  if (error instanceof errors.JOSEAlgNotAllowed) return unauthorized('the token algorithm is not accepted');
  if (error instanceof errors.JWKSNoMatchingKey) return unauthorized('no key matches the token kid');
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return new HeraldError(Problems.authUnavailable, 'the JWKS endpoint did not answer with keys', {
      retryAfter: 5,
    });
  }
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid)
    return unauthorized('the token is not a well-formed JWT');
  if (error instanceof errors.JOSEError) return unauthorized('the token is not accepted');
  throw error;
}
