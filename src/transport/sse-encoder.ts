import type { DisconnectReason } from '../core/disconnect.js';
import type { Message } from '../core/message.js';
import type { Encoder, GapNotice, Greeting, InboxNotice } from '../core/subscription.js';
import { encodeEvent, encodeEventText, encodeRetry, type SseEvent } from '../protocol/sse-frame.js';
import { annotationOf } from '../protocol/wire.js';

/**
 * The SSE encoder every SSE stream shares (the native `/events` route and the protocol adapters): what
 * the hub hands out (messages, gaps) as SSE frames, and the greeting a stream starts with.
 */

/** The message's SSE frame, encoded on first use and cached on the message (replays reuse it). */
export function frameOf(message: Message): Buffer {
  let frame = message.frame;
  if (frame === undefined) {
    frame = encodeEvent({
      id: message.id,
      event: message.event,
      data: message.data,
      comment: annotationOf(message.json === true, message.topics, message.expiresAt !== undefined),
    });
    message.frame = frame;
  }
  return frame;
}

/** The `gap` event: its id is where the client resumes from, its data the reason and the id it asked for. */
export function gapFrame(notice: GapNotice): Buffer {
  const data = JSON.stringify({ reason: notice.reason, lastEventId: notice.lastEventId });
  return encodeEvent({ id: notice.id, event: 'gap', data });
}

/** The `inbox` event: how many messages wait; with an id after the inbox was sent on connect. */
export function inboxFrame(notice: InboxNotice): Buffer {
  return encodeEvent({ id: notice.id, event: 'inbox', data: JSON.stringify({ unread: notice.unread }) });
}

/** The `groups` event: the connection's groups after its user's server-side groups changed. */
export function groupsFrame(groups: readonly string[]): Buffer {
  return encodeEvent({ event: 'groups', data: JSON.stringify({ groups }) });
}

/** The one SSE encoder: every SSE subscription has it, so a message is encoded once for all of them. */
export const sseEncoder: Encoder = {
  message: frameOf,
  gap: gapFrame,
  inbox: inboxFrame,
  groups: groupsFrame,
};

/**
 * The first bytes of a stream: the `retry:` hint, a `connected` event naming the connection, then any
 * adapter-specific events, each with the id the stream resumes from.
 */
export function sseGreeting(
  retryMs: number,
  connectionId: string,
  extra: readonly Omit<SseEvent, 'id'>[] = [],
): Greeting {
  const retry = encodeRetry(retryMs);
  return (resumeId) => {
    let text = retry;
    text += encodeEventText({ id: resumeId, event: 'connected', data: JSON.stringify({ connectionId }) });
    for (const event of extra) text += encodeEventText({ ...event, id: resumeId });
    return Buffer.from(text, 'utf8');
  };
}

/** The last event of a stream the server ends: why, and whether the client should reconnect. */
export function disconnectFrame(reason: DisconnectReason): string {
  return encodeEventText({
    event: 'disconnect',
    data: JSON.stringify({ reason: reason.code, reconnect: reason.reconnect }),
  });
}
