import type { FastifyRequest } from 'fastify';
import { HeraldError, Problems } from '../errors.js';
import { bearerOf, cookieOf } from '../http/credentials.js';
import type { MercureClaims } from './authorization.js';
import { InvalidTokenError, KeysUnavailableError, type MercureVerifier, type Role } from './tokens.js';

/**
 * How a Mercure client presents its token, and the RFC 6750 answers when it cannot: the
 * `Authorization: Bearer` header wins over a cookie (the draft's rule); then the configured cookie, then
 * `mercureAuthorization` as older clients name it; the older `?authorization=` parameter only when
 * allowed. Every 401 and 403 carries a `WWW-Authenticate: Bearer` challenge with the draft's error code.
 */

/** The cookie name older Mercure clients and Symfony's `Authorization::setCookie` use. */
export const LEGACY_COOKIE = 'mercureAuthorization';

export interface AccessOptions {
  /** The cookie read first (`--mercure-cookie-name`). */
  readonly cookieName: string;
  /** Whether `?authorization=` is read (`--mercure-query-token`). */
  readonly queryToken: boolean;
  /** The protected resource metadata URL, named in challenges when known. */
  readonly metadataUrl?: string | undefined;
  /** Origins (besides the hub's own) from which a cookie may authorize a publish: the CORS allowlist. */
  readonly publishOrigins: readonly string[];
}

/** Where the token came from: a cookie-borne publish must pass the CSRF check. */
type Source = 'header' | 'query' | 'cookie';

export class MercureAccess {
  constructor(
    private readonly verifier: MercureVerifier,
    private readonly options: AccessOptions,
  ) {}

  /**
   * The rights of the token the request presents, or undefined when it presents none. Throws a
   * `HeraldError`: 400 `invalid_request` (a malformed header, a cookie publish from a foreign origin),
   * 401 `invalid_token`, or 503 when the JWKS cannot be fetched.
   */
  async claimsOf(request: FastifyRequest, role: Role): Promise<MercureClaims | undefined> {
    const presented = this.presented(request);
    if (presented === undefined) return undefined;
    if (presented.source === 'cookie' && request.method === 'POST') this.checkOrigin(request);
    try {
      return await this.verifier.verify(presented.token, role);
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        throw new HeraldError(Problems.unauthorized, error.message, {}, this.challenge('invalid_token'));
      }
      if (error instanceof KeysUnavailableError) {
        throw new HeraldError(Problems.authUnavailable, error.message, { retryAfter: 5 });
      }
      throw error;
    }
  }

  /** 401 for a request that needs a token and presents none: the bare challenge, no error code. */
  missing(detail: string): HeraldError {
    return new HeraldError(Problems.unauthorized, detail, {}, this.challenge(undefined));
  }

  /** 403 for a valid token that does not allow the operation. */
  insufficient(detail: string): HeraldError {
    return new HeraldError(Problems.forbidden, detail, {}, this.challenge('insufficient_scope'));
  }

  private presented(request: FastifyRequest): { token: string; source: Source } | undefined {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const token = bearerOf(request);
      if (token === undefined) {
        throw this.invalidRequest('the Authorization header must be "Bearer <token>"');
      }
      return { token, source: 'header' };
    }
    if (this.options.queryToken) {
      const param = (request.query as Record<string, unknown>).authorization;
      const token = Array.isArray(param) ? param[0] : param;
      if (typeof token === 'string' && token !== '') return { token, source: 'query' };
    }
    const cookie = cookieOf(request, this.options.cookieName) || cookieOf(request, LEGACY_COOKIE);
    if (cookie !== undefined && cookie !== '') return { token: cookie, source: 'cookie' };
    return undefined;
  }

  /**
   * A cookie travels with any request the browser sends, so a publish it authorizes must come from the
   * hub's own origin or an allowed one (CSRF): `Origin`, else the origin of `Referer`, else refused.
   */
  private checkOrigin(request: FastifyRequest): void {
    let origin = request.headers.origin;
    if (origin === undefined) {
      const referer = request.headers.referer;
      if (referer === undefined) {
        throw this.invalidRequest('a publish authorized by a cookie needs an Origin or Referer header');
      }
      try {
        origin = new URL(referer).origin;
      } catch {
        throw this.invalidRequest('the Referer header is not a URL');
      }
    }
    const own = `${request.protocol}://${request.host}`;
    if (origin !== own && !this.options.publishOrigins.includes(origin)) {
      throw this.invalidRequest(`origin ${origin} may not publish with a cookie`);
    }
  }

  private invalidRequest(detail: string): HeraldError {
    return new HeraldError(Problems.invalidRequest, detail, {}, this.challenge('invalid_request'));
  }

  private challenge(code: string | undefined): Record<string, string> {
    const params: string[] = [];
    if (code !== undefined) params.push(`error="${code}"`);
    if (this.options.metadataUrl !== undefined)
      params.push(`resource_metadata="${this.options.metadataUrl}"`);
    return { 'www-authenticate': params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}` };
  }
}
