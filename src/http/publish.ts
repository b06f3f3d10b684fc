import type { Message, MessageDraft } from '../core/message.js';
import type { HttpDeps } from './deps.js';
import type { CallerRequest } from './identity.js';

/** What publishing needs: who may, how fast, and the log. */
export type PublishDeps = Pick<HttpDeps, 'identity' | 'log' | 'publishRate'>;

/**
 * The one publish sequence of every front door (`POST /messages` on both paths, the classic `/sse`
 * sends): who publishes (the identity provider, which may refuse), what (`drafts`, validated once the
 * caller is known, so an unauthorized caller learns nothing of validation), the publisher's rate charged
 * with the number of messages, then the append — one message, or a batch atomically and in order.
 */
export function publish(
  deps: PublishDeps,
  caller: CallerRequest,
  drafts: () => MessageDraft,
): Promise<Message>;
export function publish(
  deps: PublishDeps,
  caller: CallerRequest,
  drafts: () => MessageDraft[],
): Promise<Message[]>;
export function publish(
  deps: PublishDeps,
  caller: CallerRequest,
  drafts: () => MessageDraft | MessageDraft[],
): Promise<Message | Message[]>;
export async function publish(
  deps: PublishDeps,
  caller: CallerRequest,
  drafts: () => MessageDraft | MessageDraft[],
): Promise<Message | Message[]> {
  const publisher = await deps.identity.publisher(caller);
  const what = drafts();
  if (Array.isArray(what)) {
    deps.publishRate.take(publisher.id, what.length);
    return deps.log.appendMany(what);
  }
  deps.publishRate.take(publisher.id, 1);
  return deps.log.append(what);
}
