import { HUB_PATH } from './strings.js';

/** What the Mercure hub is configured with; built from the `--mercure-*` options by the composition root. */
export interface MercureOptions {
  readonly publisherKey?: string | undefined;
  readonly subscriberKey?: string | undefined;
  readonly jwksUrl?: string | undefined;
  /** Anonymous subscribers allowed (public updates only). */
  readonly anonymous: boolean;
  /** The hub's resource identifier: required `aud` of `at+jwt` tokens; an absolute URL also names the hub. */
  readonly audience?: string | undefined;
  /** Required `iss` of `at+jwt` tokens. */
  readonly issuer?: string | undefined;
  readonly cookieName: string;
  readonly queryToken: boolean;
  /** Subscription events and the subscriptions API. */
  readonly subscriptions: boolean;
  readonly clockSkewMs: number;
  /** The SSE `retry:` hint, in milliseconds. */
  readonly retryMs: number;
  /** Origins allowed by CORS: a cookie may authorize publishes from them too. */
  readonly corsOrigins: readonly string[];
  /** With Redis, how long a dead node's subscriptions may still be listed (`--presence-ttl`). */
  readonly presenceTtlMs: number;
}

/** Base of relative topics and patterns when the resource identifier is no absolute URL (RFC 6761 `.invalid`). */
const FALLBACK_HUB_URL = `http://mercure.invalid${HUB_PATH}`;

/** The hub's absolute URL when the resource identifier is one; else a stand-in that resolves relative topics. */
export function hubUrlOf(options: Pick<MercureOptions, 'audience'>): { url: string; known: boolean } {
  const audience = options.audience;
  if (audience !== undefined) {
    try {
      const url = new URL(audience);
      if (url.protocol === 'https:' || url.protocol === 'http:') return { url: url.href, known: true };
    } catch {}
  }
  return { url: FALLBACK_HUB_URL, known: false };
}
