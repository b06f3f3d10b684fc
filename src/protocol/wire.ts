/**
 * Herald's additions to the SSE wire format and the long-poll body: shared by the server and the client.
 * Pure and dependency-free (no `Buffer`, no DOM), so the browser bundle can import it.
 *
 * A message frame may carry an **annotation**: one SSE comment line inside the event block,
 *
 * ```
 * id: 1717-42
 * event: chat
 * : herald json groups=news,team-a
 * data: {"text":"hi"}
 * ```
 *
 * (`inbox` among the words: the message was published with a `ttl` and waits in its users' inboxes until
 * acknowledged; Herald's client acknowledges it once its handlers ran.)
 *
 * SSE clients ignore comments (WHATWG HTML §9.2.6), so plain `EventSource` pages and the classic API see
 * exactly the event they always did; Herald's client reads the comment, which a parser reports in stream
 * order, before the event it belongs to. A comment rather than a new field because conforming parsers
 * may drop unknown fields (eventsource-parser discards an unknown field split across two chunks).
 */

import { GROUP_TOPIC_PREFIX } from './topics.js';

/** The word that starts an annotation comment. */
export const ANNOTATION_PREFIX = 'herald';

/** What an annotation says about one message. */
export interface Annotation {
  /** The publisher sent `data` as a JSON value (not a string): clients parse it. */
  readonly json: boolean;
  /** The groups the message is addressed to; the shared browser client routes them to the tabs that want them. */
  readonly groups: readonly string[];
  /** The message is also addressed to a user, a user prefix or everyone (not only to groups). */
  readonly direct: boolean;
  /** The message waits in its users' inboxes until acknowledged (`POST /inbox/ack`). */
  readonly inbox: boolean;
}

/**
 * The annotation of a message with `topics`, as the comment's text (without the leading `:`), or
 * `undefined` when a plain message needs none (text data addressed to no group, without a ttl).
 */
export function annotationOf(json: boolean, topics: readonly string[], inbox = false): string | undefined {
  const { groups, direct } = groupsOf(topics);
  if (!json && !inbox && groups.length === 0) return undefined;
  let text = ANNOTATION_PREFIX;
  if (json) text += ' json';
  if (inbox) text += ' inbox';
  if (groups.length > 0) text += ` groups=${groups.join(',')}${direct ? ' direct' : ''}`;
  return text;
}

/**
 * The groups a message with `topics` is addressed to, in topic order, and whether it is also addressed
 * to a user, a user prefix or everyone (`direct`): what the annotation and the long-poll body tell.
 */
export function groupsOf(topics: readonly string[]): { groups: string[]; direct: boolean } {
  const groups: string[] = [];
  let direct = false;
  for (const topic of topics) {
    if (topic.startsWith(GROUP_TOPIC_PREFIX)) groups.push(topic.slice(GROUP_TOPIC_PREFIX.length));
    else direct = true;
  }
  return { groups, direct };
}

/** Reads an annotation comment (the text after `:` and one optional space); `undefined` for other comments. */
export function parseAnnotation(comment: string): Annotation | undefined {
  const words = comment.split(' ');
  if (words[0] !== ANNOTATION_PREFIX) return undefined;
  let json = false;
  let inbox = false;
  let groups: string[] = [];
  // Without a `groups=` word the message reached the connection through its user, a prefix or `all`.
  let direct = true;
  for (const word of words) {
    if (word === 'json') json = true;
    else if (word === 'inbox') inbox = true;
    else if (word === 'direct') direct = true;
    else if (word.startsWith('groups=')) {
      groups = word.slice(7).split(',');
      direct = words.includes('direct');
    }
  }
  return { json, groups, direct, inbox };
}

/** One message in a long-poll answer: the fields of its SSE frame, plus its annotation. */
export interface PolledMessage {
  readonly id: string;
  /** Absent for the default `message` event. */
  readonly event?: string;
  /** The data as text, exactly as the SSE frame carries it. */
  readonly data: string;
  /** Present and true when `data` is JSON text (see `Annotation.json`). */
  readonly json?: true;
  /** The groups the message is addressed to, when any (see `Annotation.groups`). */
  readonly groups?: readonly string[];
  /** With `groups`: also addressed to a user, a prefix or everyone (see `Annotation.direct`). */
  readonly direct?: true;
  /** Present and true when it waits in the inbox until acknowledged (see `Annotation.inbox`). */
  readonly inbox?: true;
}

/** The data of the SSE `inbox` event: how many messages wait for the user (see `core/inbox.ts`). */
export interface InboxEventData {
  readonly unread: number;
}

/** The data of the SSE `groups` event: the connection's groups now (its token's plus server-side ones). */
export interface GroupsEventData {
  readonly groups: readonly string[];
}

/**
 * The body of `GET /poll`: the next messages after the client's `lastEventId`, in log order, and the id
 * to send on the next poll. Empty `messages` means the wait bound passed with nothing new.
 */
export interface PollResponse {
  readonly messages: readonly PolledMessage[];
  /** Send this as `lastEventId` on the next poll. */
  readonly lastEventId: string;
  /** Set when the requested id was unknown or older than retention, as the SSE `gap` event's data. */
  readonly gap?: { readonly reason: string; readonly lastEventId: string };
  /**
   * The long-poll session this poll belongs to: send it back as `?session=` on the next poll, so the polls
   * are one connection (online in presence between polls, one connection slot). Absent with `disconnect`.
   */
  readonly session?: string;
  /**
   * Set when the server ended the session (shutdown, closed by server, token expired), as the SSE
   * `disconnect` event's data: during the wait, or before this poll when none waited.
   */
  readonly disconnect?: { readonly reason: string; readonly reconnect: boolean };
}
