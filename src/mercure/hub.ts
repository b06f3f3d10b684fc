import type { FastifyBaseLogger } from 'fastify';
import type { Message } from '../core/message.js';
import type { Log, Presence } from '../core/ports.js';
import { MercureAccess } from './access.js';
import { discoveryLink } from './discovery.js';
import { hubUrlOf, type MercureOptions } from './options.js';
import { HUB_PATH } from './strings.js';
import { SubscriptionRegistry } from './subscriptions.js';
import { MercureVerifier } from './tokens.js';
import { TopicMatchers } from './topic-matcher.js';
import { mercureId } from './updates.js';

/** Where the draft derives protected resource metadata from the hub URL (RFC 9728). */
export const METADATA_PATH = `/.well-known/oauth-protected-resource${HUB_PATH}`;

/**
 * Everything the Mercure front door shares between its routes: the configuration, the compiled matchers,
 * token checks, and (with `--mercure-subscriptions`) the cluster's active subscriptions. Built once by the
 * composition root, which also hands it every logged message (`observe`).
 */
export class MercureHub {
  readonly matchers: TopicMatchers;
  readonly access: MercureAccess;
  readonly registry: SubscriptionRegistry | undefined;
  /** The hub's absolute URL, when the resource identifier is one (`known`); else a stand-in base. */
  readonly hubUrl: { readonly url: string; readonly known: boolean };
  /** How many matcher evaluations ran past their time limit (a crafted pattern); for the logs. */
  timeouts = 0;

  constructor(
    readonly options: MercureOptions,
    deps: {
      readonly log: Log;
      readonly presence: Presence;
      readonly nodeId: string;
      readonly logger: FastifyBaseLogger;
    },
  ) {
    this.hubUrl = hubUrlOf(options);
    this.matchers = new TopicMatchers(this.hubUrl.url, () => {
      this.timeouts++;
      deps.logger.info(
        { timeouts: this.timeouts },
        'a Mercure matcher ran past its time limit; it did not match',
      );
    });
    const verifier = new MercureVerifier(
      {
        publisherKey: options.publisherKey,
        subscriberKey: options.subscriberKey,
        jwksUrl: options.jwksUrl,
        audience: options.audience,
        issuer: options.issuer,
        clockSkewMs: options.clockSkewMs,
      },
      this.matchers,
    );
    this.access = new MercureAccess(verifier, {
      cookieName: options.cookieName,
      queryToken: options.queryToken,
      metadataUrl: this.hubUrl.known ? new URL(METADATA_PATH, this.hubUrl.url).href : undefined,
      publishOrigins: options.corsOrigins,
    });
    this.registry = options.subscriptions
      ? new SubscriptionRegistry(deps.log, deps.presence, {
          nodeId: deps.nodeId,
          presenceTtlMs: options.presenceTtlMs,
          logger: deps.logger,
        })
      : undefined;
  }

  /** The URL discovery names: absolute when known, else the well-known path (resolved by the client). */
  get advertisedUrl(): string {
    return this.hubUrl.known ? this.hubUrl.url : HUB_PATH;
  }

  /** The discovery `Link` of Herald's own pages: the hub, and the cursor to resume from (`last-event-id`). */
  pageLink(lastPosition: string): string {
    return discoveryLink(this.advertisedUrl, { lastEventId: mercureId(lastPosition) });
  }

  /** Starts what runs beside requests: asking the cluster for its subscriptions. */
  start(): void {
    this.registry?.start();
  }

  /** Every message of the log, once, after the hub delivered it. */
  observe(message: Message): void {
    this.registry?.observe(message);
  }
}
