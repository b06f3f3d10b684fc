import type { FastifyInstance } from 'fastify';
import type { InboxAck, InboxPage } from '../core/inbox.js';
import type { Message } from '../core/message.js';
import { HeraldError, Problems } from '../errors.js';
import { isPlausibleLastEventId, MAX_ID_LENGTH } from '../protocol/grammar.js';
import { type Audience, addressedTo } from '../protocol/topics.js';
import type { HttpDeps } from './deps.js';
import { subscriberOf } from './identity.js';
import { userIdParam } from './presence.js';
import { queryOne } from './query.js';

/** Largest page of `GET /inbox`, and most ids in one acknowledgement. */
export const MAX_INBOX_PAGE = 1000;

const ACK_FIELDS = new Set(['through', 'ids']);

/** One waiting message as `GET /inbox` lists it. */
interface InboxItem {
  readonly id: string;
  readonly event?: string;
  /** The publisher's data: a JSON value as sent, or the text. */
  readonly data: unknown;
  /** When the log accepted it and when it stops waiting (ms since the epoch). */
  readonly ts: number;
  readonly expiresAt: number;
}

const invalid = (field: string, detail: string): HeraldError =>
  new HeraldError(Problems.invalidRequest, detail, { field });

/**
 * The inbox API: `GET /inbox` and `POST /inbox/ack` for the subscriber itself, `GET` and `DELETE
 * /users/{id}/inbox` for publishers (an app's badge, or clearing it). See `core/inbox.ts`.
 */
export function inboxRoutes(app: FastifyInstance, deps: HttpDeps): void {
  /** Who the caller is, with its user's server-side groups: what a group message must be addressed to. */
  const audienceOf = async (userId: string, groups: readonly string[]): Promise<Audience> => {
    const server = await deps.groups.of(userId);
    return { userId, groups: [...new Set([...groups, ...server])] };
  };

  app.get('/inbox', async (request) => {
    const subscriber = await subscriberOf(deps.identity, request);
    const audience = await audienceOf(subscriber.userId, subscriber.groups);
    return listing(audience, await deps.inbox.waiting(audience, pageQuery(request.query)));
  });

  app.post('/inbox/ack', async (request) => {
    const subscriber = await subscriberOf(deps.identity, request);
    const asked = parseAck(request.body);
    const audience = await audienceOf(subscriber.userId, subscriber.groups);
    const found = await deps.inbox.find(asked.ids);
    const foreign = asked.ids.filter((id) => {
      const message = found.get(id);
      return message !== undefined && !addressedTo(message.topics, audience);
    });
    if (foreign.length > 0) {
      throw new HeraldError(
        Problems.notAddressed,
        `message${foreign.length > 1 ? 's' : ''} ${foreign.map((id) => `"${id}"`).join(', ')} ${foreign.length > 1 ? 'are' : 'is'} not addressed to user "${audience.userId}"`,
        { field: asked.field, ids: foreign },
      );
    }
    // Unknown ids (never kept, expired, or from a log that restarted) have nothing waiting: not an error,
    // so an acknowledgement that races another device's, or the ttl, is answered alike.
    const unknown = asked.ids.filter((id) => !found.has(id));
    const messages = asked.ids.map((id) => found.get(id)).filter((m): m is Message => m !== undefined);
    let ack: InboxAck | undefined;
    if (asked.field === 'through') ack = messages[0] && { kind: 'through', message: messages[0] };
    else if (messages.length > 0) ack = { kind: 'ids', messages };
    if (ack === undefined) {
      const { unread } = await deps.inbox.waiting(audience, { limit: 0 });
      return { acked: 0, unread, unknown };
    }
    const { acked, unread } = await deps.inbox.acknowledge(audience, ack);
    return { acked, unread, unknown };
  });

  app.get<{ Params: { id: string } }>('/users/:id/inbox', async (request) => {
    await deps.identity.publisher(request);
    const audience = await audienceOf(userIdParam(request.params.id), []);
    return listing(audience, await deps.inbox.waiting(audience, pageQuery(request.query)));
  });

  app.delete<{ Params: { id: string } }>('/users/:id/inbox', async (request) => {
    await deps.identity.publisher(request);
    const audience = await audienceOf(userIdParam(request.params.id), []);
    return { user: audience.userId, cleared: await deps.inbox.clear(audience) };
  });
}

/** `?limit=` (1 to 1000, default 100) and `?cursor=` (a page's `nextCursor`). */
function pageQuery(query: unknown): { limit: number; after: string | undefined } {
  const fields = query as Record<string, unknown>;
  const limitText = queryOne(fields.limit) ?? '100';
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_INBOX_PAGE) {
    throw invalid('limit', `limit must be an integer from 1 to ${MAX_INBOX_PAGE}`);
  }
  const cursor = queryOne(fields.cursor);
  if (cursor !== undefined && !isPlausibleLastEventId(cursor)) {
    throw invalid('cursor', 'cursor must be the nextCursor of a previous page');
  }
  return { limit, after: cursor };
}

/** Validates an acknowledgement: exactly one of `{"through": id}` and `{"ids": [id, …]}`. */
function parseAck(body: unknown): { field: 'through' | 'ids'; ids: string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('(body)', 'the body must be a JSON object: {"through": "<id>"} or {"ids": ["<id>", …]}');
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!ACK_FIELDS.has(key)) throw invalid(key, `unknown field "${key}": give through or ids`);
  }
  if ((fields.through === undefined) === (fields.ids === undefined)) {
    throw invalid('(body)', 'give exactly one of through (one id) and ids (an array of ids)');
  }
  if (fields.through !== undefined) {
    checkId(fields.through, 'through');
    return { field: 'through', ids: [fields.through as string] };
  }
  const ids = fields.ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_INBOX_PAGE) {
    throw invalid('ids', `ids must be an array of 1 to ${MAX_INBOX_PAGE} message ids`);
  }
  ids.forEach((id, index) => {
    checkId(id, `ids[${index}]`);
  });
  return { field: 'ids', ids: [...new Set(ids as string[])] };
}

function checkId(value: unknown, field: string): void {
  if (typeof value !== 'string' || !isPlausibleLastEventId(value)) {
    throw invalid(
      field,
      `${field} must be a message id: a string of 1 to ${MAX_ID_LENGTH} characters on one line`,
    );
  }
}

/** The answer of `GET /inbox` and `GET /users/{id}/inbox`. */
function listing(audience: Audience, page: InboxPage): Record<string, unknown> {
  return {
    user: audience.userId,
    unread: page.unread,
    messages: page.messages.map(itemOf),
    ...(page.next === undefined ? {} : { nextCursor: page.next }),
  };
}

function itemOf(message: Message): InboxItem {
  return {
    id: message.id,
    ...(message.event === undefined ? {} : { event: message.event }),
    data: message.json === true ? (JSON.parse(message.data) as unknown) : message.data,
    ts: message.ts,
    expiresAt: message.expiresAt ?? message.ts,
  };
}
