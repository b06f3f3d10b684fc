import type { Message, MessageDraft } from '../core/message.js';
import type { Encoder, GapNotice, Greeting, MessageFilter } from '../core/subscription.js';
import { isLogPosition } from '../protocol/position.js';
import { encodeEventText, encodeRetry } from '../protocol/sse-frame.js';
import type { TopicMatcher } from './topic-matcher.js';

/**
 * The one mapping between Mercure updates and Herald messages (written out in `docs/mercure.md`): an
 * update is a message whose topics are, in order,
 *
 * 1. its route: the group `#mercure` (public) or `#mercure-private`, which every Mercure subscription
 *    joins (the second only with a token that grants subscribing to something) — no Herald group name
 *    can start with `#`;
 * 2. `mercure:` followed by its SSE options (`retry=<ms>`), possibly empty;
 * 3. the update's topics, canonical first, verbatim — so one that is a Herald topic (`all`,
 *    `user:<id>`, `group:<name>`, `prefix:<p>`) also reaches the Herald subscribers it names.
 *
 * A message without the route at position 0 is Herald's own: Mercure subscribers see its Herald topics
 * as the topics of a private update. Ids: a publisher's id is the update's id; a log position is shown as
 * the fragment `#<position>`, an id the draft allows hubs to generate, and read back without the `#`.
 */

export const PUBLIC_GROUP = '#mercure';
export const PRIVATE_GROUP = '#mercure-private';
/** The route of the hub's own control messages (cluster bookkeeping): no subscription joins it. */
export const CONTROL_GROUP = '#mercure-control';
const PUBLIC_ROUTE = `group:${PUBLIC_GROUP}`;
const PRIVATE_ROUTE = `group:${PRIVATE_GROUP}`;
const CONTROL_ROUTE = `group:${CONTROL_GROUP}`;
const OPTIONS_PREFIX = 'mercure:';

/** An update as a publisher (or the hub itself) sends it. */
export interface Update {
  /** Canonical topic first, then the alternate ones. */
  readonly topics: readonly string[];
  readonly data: string;
  readonly private: boolean;
  readonly id?: string | undefined;
  /** The SSE `event`. */
  readonly type?: string | undefined;
  /** The SSE `retry`, in milliseconds. */
  readonly retry?: number | undefined;
}

/** The log draft of an update. */
export function draftOf(update: Update): MessageDraft {
  const options = update.retry === undefined ? OPTIONS_PREFIX : `${OPTIONS_PREFIX}retry=${update.retry}`;
  return {
    id: update.id,
    topics: [update.private ? PRIVATE_ROUTE : PUBLIC_ROUTE, options, ...update.topics],
    event: update.type,
    data: update.data,
  };
}

/** The log draft of a control message of kind `kind` (see `subscriptions.ts`). */
export function controlDraftOf(kind: string, data: string): MessageDraft {
  return { topics: [CONTROL_ROUTE, `${OPTIONS_PREFIX}${kind}`], data };
}

/** How Mercure sees one message. */
export interface MercureView {
  /** The topics matchers test: the update's, or a Herald message's own. */
  readonly topics: readonly string[];
  readonly private: boolean;
  readonly retry: number | undefined;
  /** The kind of a hub control message; undefined for updates and Herald's messages. */
  readonly control: string | undefined;
}

// One message reaches its recipients one after another: its view is made once, not once per recipient.
let lastMessage: Message | null = null;
let lastView: MercureView | null = null;

/** The Mercure view of `message` (kept for the message being delivered). */
export function viewOf(message: Message): MercureView {
  if (message === lastMessage) return lastView as MercureView;
  const topics = message.topics;
  const route = topics[0];
  const options = topics[1] ?? '';
  let view: MercureView;
  if (route === PUBLIC_ROUTE || route === PRIVATE_ROUTE) {
    const retry = /^mercure:retry=(\d+)$/.exec(options)?.[1];
    view = {
      topics: topics.slice(2),
      private: route === PRIVATE_ROUTE,
      retry: retry === undefined ? undefined : Number(retry),
      control: undefined,
    };
  } else if (route === CONTROL_ROUTE) {
    view = { topics: [], private: true, retry: undefined, control: options.slice(OPTIONS_PREFIX.length) };
  } else view = { topics, private: true, retry: undefined, control: undefined };
  lastMessage = message;
  lastView = view;
  return view;
}

/** The id Mercure clients see for a message id or position: a position as `#<position>`. */
export function mercureId(id: string): string {
  return isLogPosition(id) ? `#${id}` : id;
}

/** What the log is asked about for an id a Mercure client sends back: a `#<position>` without its `#`. */
export function logIdOf(mercureEventId: string): string {
  return mercureEventId.startsWith('#') ? mercureEventId.slice(1) : mercureEventId;
}

/** The frames of Mercure streams: `id` (Mercure form), `event` from the type, `retry`, `data` lines. */
export const mercureEncoder: Encoder = {
  message(message: Message): Buffer {
    const retry = viewOf(message).retry;
    const text = encodeEventText({ id: mercureId(message.id), event: message.event, data: message.data });
    return Buffer.from(retry === undefined ? text : `retry: ${retry}\n${text}`, 'utf8');
  },
  /**
   * A gap moves the client's cursor without an event (an `id` field alone dispatches nothing): Mercure
   * has no gap event, and `Mercure-Last-Event-ID: earliest` already told the client of the loss.
   */
  gap(notice: GapNotice): Buffer {
    return Buffer.from(`id: ${mercureId(notice.id)}\n\n`, 'utf8');
  },
};

/**
 * A Mercure stream's first frames: the `retry:` hint, then the position it starts from as an `id` alone,
 * so a client that loses the connection before any update resumes from where it joined.
 */
export function mercureGreeting(retryMs: number): Greeting {
  const retry = encodeRetry(retryMs);
  return (resumeId) => Buffer.from(`${retry}id: ${mercureId(resumeId)}\n\n`, 'utf8');
}

/**
 * What one Mercure connection takes of what the router brings it: updates one of whose topics one of its
 * matchers matches, and private ones only when a subscribe grant of its token matches one of their topics
 * too (not necessarily the same topic: the audience of a private update is that of all its topics).
 */
export class MercureFilter implements MessageFilter {
  constructor(
    private readonly matchers: readonly TopicMatcher[],
    private readonly grants: readonly TopicMatcher[],
  ) {}

  accepts(message: Message): boolean {
    const view = viewOf(message);
    if (view.control !== undefined) return false;
    const topics = view.topics;
    if (!anyMatches(this.matchers, topics)) return false;
    return !view.private || anyMatches(this.grants, topics);
  }
}

function anyMatches(matchers: readonly TopicMatcher[], topics: readonly string[]): boolean {
  for (const matcher of matchers) if (matcher.matchesAny(topics)) return true;
  return false;
}
