import type { FastifyBaseLogger } from 'fastify';
import type { Message } from '../core/message.js';
import type { Log, Presence } from '../core/ports.js';
import type { SubscriptionMatcher } from './matchers-param.js';
import { expandVariable, SUBSCRIPTIONS_PATH } from './strings.js';
import { controlDraftOf, draftOf, viewOf } from './updates.js';

/**
 * Active subscriptions: the subscription events the hub publishes when a subscription starts or ends, and
 * what the subscriptions API lists — for the whole cluster. Events go through the log like every update,
 * so every node sees every node's; a node that starts asks the others for what they hold with a control
 * message in the log (answered the same way), and a subscription of a node that died without saying so is
 * dropped once presence no longer counts its connection (after `--presence-ttl`).
 */

/** The JSON-LD context of the older subscription documents. */
export const MERCURE_CONTEXT = 'https://mercure.rocks/';
/** The SSE event of hub-generated updates (publishers may not use it). */
export const HUB_EVENT = 'mercure';
/** How Herald names a Mercure connection as a user (presence, limits): no Herald user id has a `#`. */
export const MERCURE_USER_PREFIX = '#mercure:';

/**
 * One subscription as events and the API show it: the draft's (`match_type`, `match`, type
 * `subscription`) for `match` parameters, the older JSON-LD (`topic`, type `Subscription`) for `topic`.
 */
export interface SubscriptionDocument {
  readonly id: string;
  readonly type: 'subscription' | 'Subscription';
  readonly match_type?: string;
  readonly match?: string;
  readonly topic?: string;
  readonly subscriber: string;
  readonly active: boolean;
  readonly payload?: unknown;
}

/** The document of one subscription of `subscriber`. */
export function documentOf(
  matcher: Pick<SubscriptionMatcher, 'type' | 'pattern'>,
  subscriber: string,
  active: boolean,
  payload: unknown,
): SubscriptionDocument {
  const who = expandVariable(subscriber);
  const extra = payload === undefined ? {} : { payload };
  if (matcher.type === 'selector') {
    const id = `${SUBSCRIPTIONS_PATH}/${expandVariable(matcher.pattern)}/${who}`;
    return { id, type: 'Subscription', topic: matcher.pattern, subscriber, active, ...extra };
  }
  const id = `${SUBSCRIPTIONS_PATH}/${matcher.type}/${expandVariable(matcher.pattern)}/${who}`;
  return {
    id,
    type: 'subscription',
    match_type: matcher.type,
    match: matcher.pattern,
    subscriber,
    active,
    ...extra,
  };
}

/** A subscription event's JSON: the document, with the JSON-LD context for the older kind. */
export function eventData(doc: SubscriptionDocument): string {
  return JSON.stringify(doc.type === 'Subscription' ? { '@context': MERCURE_CONTEXT, ...doc } : doc);
}

const SYNC_REQUEST = 'sync-request';
const SYNC_STATE = 'sync-state';

interface Remote {
  readonly docs: SubscriptionDocument[];
  /** When this node last heard of it (ms): past the presence TTL, presence must still count it. */
  seenAt: number;
}

/** The cluster's active subscriptions, as this node knows them. */
export class SubscriptionRegistry {
  private readonly local = new Map<string, readonly SubscriptionDocument[]>();
  private readonly remote = new Map<string, Remote>();

  constructor(
    private readonly log: Log,
    private readonly presence: Presence,
    private readonly options: {
      readonly nodeId: string;
      readonly presenceTtlMs: number;
      readonly logger: FastifyBaseLogger;
    },
  ) {}

  /** Asks the other nodes for their subscriptions (their answers arrive through the log). */
  start(): void {
    this.append([controlDraftOf(SYNC_REQUEST, this.options.nodeId)]);
  }

  /** A connection opened with these subscriptions (all `active`): recorded and announced. */
  opened(subscriber: string, docs: readonly SubscriptionDocument[]): void {
    this.local.set(subscriber, docs);
    this.announce(docs);
  }

  /** The connection of `subscriber` closed: forgotten and announced as inactive. */
  closed(subscriber: string): void {
    const docs = this.local.get(subscriber);
    if (docs === undefined) return;
    this.local.delete(subscriber);
    this.announce(docs.map((doc) => ({ ...doc, active: false })));
  }

  /** Sees every message of the log once (from the composition root's tail): other nodes' subscriptions. */
  observe(message: Message): void {
    const view = viewOf(message);
    if (view.control === SYNC_REQUEST) {
      if (message.data !== this.options.nodeId) this.answerSync();
      return;
    }
    if (view.control === SYNC_STATE) {
      this.mergeState(message.data);
      return;
    }
    if (message.event !== HUB_EVENT || !view.private || view.control !== undefined) return;
    const topic = view.topics[0];
    if (topic === undefined || !topic.startsWith(`${SUBSCRIPTIONS_PATH}/`)) return;
    let doc: SubscriptionDocument;
    try {
      doc = JSON.parse(message.data) as SubscriptionDocument;
    } catch {
      return;
    }
    if (this.local.has(doc.subscriber)) return;
    const known = this.remote.get(doc.subscriber);
    const plain = withoutContext(doc);
    if (doc.active) {
      if (known === undefined) this.remote.set(doc.subscriber, { docs: [plain], seenAt: Date.now() });
      else {
        known.seenAt = Date.now();
        if (!known.docs.some((d) => d.id === doc.id)) known.docs.push(plain);
      }
    } else if (known !== undefined) {
      const index = known.docs.findIndex((d) => d.id === doc.id);
      if (index >= 0) known.docs.splice(index, 1);
      if (known.docs.length === 0) this.remote.delete(doc.subscriber);
    }
  }

  /** Every active subscription of the cluster, this node's first. */
  async list(): Promise<SubscriptionDocument[]> {
    const result: SubscriptionDocument[] = [];
    for (const docs of this.local.values()) result.push(...docs);
    const stale = Date.now() - this.options.presenceTtlMs;
    for (const [subscriber, entry] of this.remote) {
      if (entry.seenAt < stale) {
        // Long known: still listed only while presence counts its connection (its node may have died).
        const presence = await this.presence.user(MERCURE_USER_PREFIX + subscriber);
        if (!presence.online) {
          this.remote.delete(subscriber);
          continue;
        }
        entry.seenAt = Date.now();
      }
      result.push(...entry.docs);
    }
    return result;
  }

  private answerSync(): void {
    const state = { node: this.options.nodeId, subscriptions: [...this.local.values()].flat() };
    this.append([controlDraftOf(SYNC_STATE, JSON.stringify(state))]);
  }

  private mergeState(data: string): void {
    let state: { node?: string; subscriptions?: SubscriptionDocument[] };
    try {
      state = JSON.parse(data) as typeof state;
    } catch {
      return;
    }
    if (state.node === this.options.nodeId || !Array.isArray(state.subscriptions)) return;
    const now = Date.now();
    for (const doc of state.subscriptions) {
      const known = this.remote.get(doc.subscriber);
      if (known === undefined) this.remote.set(doc.subscriber, { docs: [doc], seenAt: now });
      else if (!known.docs.some((d) => d.id === doc.id)) known.docs.push(doc);
    }
  }

  private announce(docs: readonly SubscriptionDocument[]): void {
    this.append(
      docs.map((doc) => draftOf({ topics: [doc.id], data: eventData(doc), private: true, type: HUB_EVENT })),
    );
  }

  private append(drafts: Parameters<Log['appendMany']>[0]): void {
    if (drafts.length === 0) return;
    // Fire and forget: a subscription works even when its event cannot be logged (a draining node).
    this.log.appendMany(drafts).catch((error: unknown) => {
      this.options.logger.warn({ err: error }, 'a Mercure subscription event could not be logged');
    });
  }
}

function withoutContext(doc: SubscriptionDocument): SubscriptionDocument {
  const { '@context': _context, ...rest } = doc as SubscriptionDocument & { '@context'?: string };
  return rest;
}
