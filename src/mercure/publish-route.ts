import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Message } from '../core/message.js';
import { DuplicateIdError } from '../core/ports.js';
import { HeraldError, Problems } from '../errors.js';
import type { HttpDeps } from '../http/deps.js';
import { isPlausibleLastEventId, RESERVED_EVENTS } from '../protocol/grammar.js';
import { isLogPosition } from '../protocol/position.js';
import { grants } from './authorization.js';
import { FormEncodingError, type FormPairs, firstOf, parseForm, valuesOf } from './form.js';
import type { MercureHub } from './hub.js';
import { isProtocolString, isReservedTopic } from './strings.js';
import { EARLIEST } from './subscribe-route.js';
import { HUB_EVENT } from './subscriptions.js';
import { WILDCARD } from './topic-matcher.js';
import { draftOf, mercureId, type Update } from './updates.js';

/** Most topics (canonical and alternate) one update may have; 413 beyond, as the draft asks. */
export const MAX_TOPICS = 100;

const invalid = (detail: string, field: string): HeraldError =>
  new HeraldError(Problems.invalidRequest, detail, { field });

/**
 * `POST /.well-known/mercure`: a form-encoded update, authorized by a publisher token that grants
 * `publish` on every one of its topics, appended to the log like any message; the answer is its id.
 */
export async function publish(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: HttpDeps,
  hub: MercureHub,
): Promise<string> {
  const claims = await hub.access.claimsOf(request, 'publisher');
  if (claims === undefined) {
    throw hub.access.missing('publishing needs a Mercure publisher token (Authorization: Bearer)');
  }
  const update = updateOf(formOf(request.body), hub.hubUrl.url);
  const refused = update.topics.filter((topic) => !grants(claims, 'publish', topic));
  if (refused.length > 0) {
    throw hub.access.insufficient(
      `the token does not allow publishing to ${refused.map((t) => JSON.stringify(t)).join(', ')}`,
    );
  }
  deps.publishRate.take(`mercure:${claims.subject ?? 'token'}`, 1);
  let appended: Message;
  try {
    appended = await deps.log.append(draftOf(update));
  } catch (error) {
    // A reused id: the draft lets a hub give the update an id of its own instead (the answer says which);
    // the update is delivered, and ids stay unique, so no resume point is ever ambiguous.
    if (!(error instanceof DuplicateIdError)) throw error;
    appended = await deps.log.append(draftOf({ ...update, id: undefined }));
  }
  reply.code(200).type('text/plain; charset=utf-8');
  return mercureId(appended.id);
}

function formOf(body: unknown): FormPairs {
  if (!(body instanceof Uint8Array)) {
    throw new HeraldError(
      Problems.unsupportedMediaType,
      'send the update as application/x-www-form-urlencoded',
    );
  }
  try {
    return parseForm(body);
  } catch (error) {
    if (error instanceof FormEncodingError) throw new HeraldError(Problems.invalidRequest, error.message);
    throw error;
  }
}

/** The update a form describes, checked as the draft requires (each refusal a 400 naming the field). */
function updateOf(form: FormPairs, hubUrl: string): Update {
  const topics = valuesOf(form, 'topic');
  if (topics.length === 0) throw invalid('an update needs at least one topic field', 'topic');
  if (topics.length > MAX_TOPICS) {
    throw new HeraldError(Problems.bodyTooLarge, `an update has at most ${MAX_TOPICS} topics`, {
      field: 'topic',
    });
  }
  for (const topic of topics) {
    if (!isProtocolString(topic))
      throw invalid('a topic must not contain control or format characters', 'topic');
    if (topic === WILDCARD) throw invalid('the topic "*" is reserved for the wildcard matcher', 'topic');
    if (isReservedTopic(topic, hubUrl)) {
      throw invalid(`the topic ${JSON.stringify(topic)} is in the hub's reserved namespace`, 'topic');
    }
  }
  const id = firstOf(form, 'id');
  if (id !== undefined && (!isProtocolString(id) || id.startsWith('#') || id === EARLIEST)) {
    throw invalid('id must not start with #, be "earliest", or contain control or format characters', 'id');
  }
  const type = firstOf(form, 'type');
  if (type !== undefined) {
    if (!isProtocolString(type)) throw invalid('type must not contain control or format characters', 'type');
    if (type === HUB_EVENT) throw invalid('the type "mercure" is reserved for the hub\'s own events', 'type');
    if (RESERVED_EVENTS.has(type)) throw invalid(`the type "${type}" is reserved by Herald`, 'type');
  }
  const retry = firstOf(form, 'retry');
  if (retry !== undefined && !/^\d{1,10}$/.test(retry))
    throw invalid('retry must be a number of milliseconds', 'retry');
  return {
    topics,
    data: firstOf(form, 'data') ?? '',
    private: firstOf(form, 'private') !== undefined,
    // An id the log cannot hold as a publisher's (digit-first, too long) gets the hub's own, as allowed.
    id: id !== undefined && id !== '' && !isLogPosition(id) && isPlausibleLastEventId(id) ? id : undefined,
    type: type === '' ? undefined : type,
    retry: retry === undefined ? undefined : Number(retry),
  };
}
