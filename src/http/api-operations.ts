import { inboxLimit, type JsonSchema, pageLimit, ref } from './api-schemas.js';

/** Who may call an operation in production mode (development mode needs no credential). */
export type Caller = 'anyone' | 'subscriber' | 'publisher' | 'admin' | 'publisher-or-admin';

/** One parameter of an operation, as OpenAPI describes it. */
export interface ApiParameter {
  readonly name: string;
  readonly in: 'query' | 'path' | 'header';
  readonly description: string;
  readonly required?: boolean;
  readonly schema: JsonSchema;
}

/** A success answer: its status, what it means, and the body's media type and schema. */
export interface ApiSuccess {
  readonly status: number;
  readonly description: string;
  readonly type?: string;
  readonly schema?: JsonSchema;
  /** Response headers worth naming. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** One operation of the HTTP API: what `GET /openapi.json` says of one route. */
export interface ApiOperation {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The OpenAPI path (`{id}` for Fastify's `:id`). */
  readonly path: string;
  readonly tag:
    | 'subscribe'
    | 'publish'
    | 'inbox'
    | 'groups'
    | 'presence'
    | 'health'
    | 'admin'
    | 'classic'
    | 'meta';
  readonly summary: string;
  readonly description?: string;
  readonly caller: Caller;
  readonly parameters?: readonly ApiParameter[];
  /** The JSON request body's schema (required when given). */
  readonly body?: JsonSchema;
  readonly success: readonly ApiSuccess[];
  /** Statuses answered with a problem document; the catalogue (`errors.ts`) says which codes each holds. */
  readonly problems: readonly number[];
}

const JSON_TYPE = 'application/json';
const SSE_TYPE = 'text/event-stream';

const userQuery: ApiParameter = {
  name: 'user',
  in: 'query',
  description: "Development mode: the user id. Production: the token's `sub` (when given, it must equal it).",
  schema: ref('Name'),
};
const groupQuery: ApiParameter = {
  name: 'group',
  in: 'query',
  description:
    "A group to join; repeat for several. Production: each must be in the token's `groups` claim; none asked for joins all of them.",
  schema: { type: 'array', items: ref('Name') },
};
const lastEventIdQuery: ApiParameter = {
  name: 'lastEventId',
  in: 'query',
  description: 'The resume point, for clients that cannot send the `Last-Event-ID` header (the header wins).',
  schema: { type: 'string' },
};
const lastEventIdHeader: ApiParameter = {
  name: 'Last-Event-ID',
  in: 'header',
  description: 'The id of the last event received: the stream replays what came after it, or says `gap`.',
  schema: { type: 'string' },
};
const tokenQuery: ApiParameter = {
  name: 'token',
  in: 'query',
  description: 'Production: the subscriber token, when neither the header nor the cookie can carry it.',
  schema: { type: 'string' },
};
const userIdPath = (name: string): ApiParameter => ({
  name,
  in: 'path',
  required: true,
  description: 'The user id.',
  schema: ref('Name'),
});
const listQuery = (fallback: number): ApiParameter[] => [
  {
    name: 'prefix',
    in: 'query',
    description: 'Only users whose id starts with it.',
    schema: { type: 'string' },
  },
  { name: 'limit', in: 'query', description: 'Page size.', schema: pageLimit(fallback) },
  {
    name: 'cursor',
    in: 'query',
    description: 'The `nextCursor` of the previous page.',
    schema: { type: 'string' },
  },
];
const inboxPageQuery: ApiParameter[] = [
  { name: 'limit', in: 'query', description: 'Page size.', schema: inboxLimit },
  {
    name: 'cursor',
    in: 'query',
    description: 'The `nextCursor` of the previous page.',
    schema: { type: 'string' },
  },
];
const classicMessage: ApiParameter = {
  name: 'message',
  in: 'query',
  required: true,
  description: 'The text sent, as a plain `message` event.',
  schema: { type: 'string' },
};

const stream = (description: string): ApiSuccess => ({
  status: 200,
  description,
  type: SSE_TYPE,
  schema: { type: 'string' },
});
const json = (description: string, schema: JsonSchema, status = 200): ApiSuccess => ({
  status,
  description,
  type: JSON_TYPE,
  schema,
});

/** Problems any subscription may meet: bad names, credentials, groups, connection limits, a full or draining node. */
const SUBSCRIBE_PROBLEMS = [400, 401, 403, 429, 503];
/** Problems of a publisher's read or close: bad names, credentials, the log or token keys unavailable. */
const PUBLISHER_PROBLEMS = [400, 401, 403, 503];
/** Problems of a route that reads a JSON body: also a body too large (413) or not JSON (415). */
const BODY_PROBLEMS = [400, 401, 403, 413, 415, 503];

/**
 * Every route of the HTTP API. `openapi.ts` turns the ones this node registered into the OpenAPI document,
 * and `test/integration/openapi.test.ts` fails when a route is registered that this table does not describe,
 * or described here and not registered.
 */
export const API_OPERATIONS: readonly ApiOperation[] = [
  {
    method: 'GET',
    path: '/events',
    tag: 'subscribe',
    summary: 'The SSE stream of one connection',
    description:
      'Opens with a `connected` event whose id is the resume point; then every message addressed to the user or its groups, in log order. Control events: `connected`, `gap`, `disconnect`. Reconnect with `Last-Event-ID` to resume without gap or duplicate.',
    caller: 'subscriber',
    parameters: [userQuery, groupQuery, lastEventIdQuery, tokenQuery, lastEventIdHeader],
    success: [stream('The stream: `id:`, `event:` and `data:` fields, heartbeat comments.')],
    problems: SUBSCRIBE_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/poll',
    tag: 'subscribe',
    summary: 'Long-polling: the next messages as JSON',
    description:
      'For networks whose proxies buffer streams. Waits up to `--poll-timeout` for a message. Send `lastEventId` and `session` of each answer with the next poll.',
    caller: 'subscriber',
    parameters: [
      userQuery,
      groupQuery,
      lastEventIdQuery,
      {
        name: 'session',
        in: 'query',
        description: 'The `session` of the previous answer: the polls go on as one connection.',
        schema: { type: 'string' },
      },
      tokenQuery,
      lastEventIdHeader,
    ],
    success: [
      json('The messages after `lastEventId` (maybe none), and where to go on from.', ref('PollAnswer')),
    ],
    problems: SUBSCRIBE_PROBLEMS,
  },
  {
    method: 'POST',
    path: '/messages',
    tag: 'publish',
    summary: 'Publish one message, or a batch',
    description:
      'A JSON object publishes one message; a JSON array publishes a batch atomically, in order. Answered once the message is in the log.',
    caller: 'publisher',
    body: ref('PublishRequest'),
    success: [
      {
        status: 202,
        description: 'In the log: `{"id"}` for one message, `{"ids"}` for a batch.',
        type: JSON_TYPE,
        schema: { oneOf: [ref('Accepted'), ref('AcceptedBatch')] },
      },
    ],
    problems: [400, 401, 403, 409, 413, 415, 429, 503],
  },
  {
    method: 'GET',
    path: '/presence',
    tag: 'presence',
    summary: 'Open connections and users online',
    caller: 'publisher',
    success: [json('The figures (cluster-wide on a shared log).', ref('PresenceSummary'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/presence/users',
    tag: 'presence',
    summary: 'Users online, a page at a time, in id order',
    caller: 'publisher',
    parameters: listQuery(100),
    success: [json('One page.', ref('UserPage'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/presence/users/{id}',
    tag: 'presence',
    summary: 'Whether one user is online',
    caller: 'publisher',
    parameters: [userIdPath('id')],
    success: [json('The user (offline users too).', ref('UserPresence'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/inbox',
    tag: 'inbox',
    summary: "The subscriber's inbox: messages published with a `ttl` it has not acknowledged",
    description:
      "In log order, a page at a time. Same identity as `/events`; group messages count for the groups of the token (or `?group=`) and the user's server-side groups.",
    caller: 'subscriber',
    parameters: [userQuery, groupQuery, ...inboxPageQuery, tokenQuery],
    success: [json('One page, and how many messages wait in all.', ref('InboxPage'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'POST',
    path: '/inbox/ack',
    tag: 'inbox',
    summary: 'Acknowledge inbox messages, for every device of the user',
    description:
      'No new connection of the user, on any node, is sent them again; its live connections are sent the new `inbox` count. Ids of no message kept now are listed in `unknown`, not refused; an id of a message not addressed to the user is a 403 `not-addressed`, and nothing is acknowledged.',
    caller: 'subscriber',
    parameters: [userQuery, groupQuery, tokenQuery],
    body: ref('InboxAck'),
    success: [json('What was acknowledged and what still waits.', ref('InboxAcked'))],
    problems: BODY_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/users/{id}/inbox',
    tag: 'inbox',
    summary: "What waits in one user's inbox (an app's unread badge)",
    description: "Group messages count for the user's server-side groups.",
    caller: 'publisher',
    parameters: [userIdPath('id'), ...inboxPageQuery],
    success: [json('One page, and how many messages wait in all.', ref('InboxPage'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'DELETE',
    path: '/users/{id}/inbox',
    tag: 'inbox',
    summary: 'Acknowledge everything waiting for a user now',
    caller: 'publisher',
    parameters: [userIdPath('id')],
    success: [json('How many messages were acknowledged.', ref('InboxCleared'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/users/{id}/groups',
    tag: 'groups',
    summary: "A user's server-side groups",
    caller: 'publisher',
    parameters: [userIdPath('id')],
    success: [json('The groups, sorted.', ref('UserGroups'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'PUT',
    path: '/users/{id}/groups',
    tag: 'groups',
    summary: "Replace a user's server-side groups",
    description:
      "Answered once the change reached the user's live connections on every node (each is sent a `groups` event): a message published after the answer reaches the new members.",
    caller: 'publisher',
    parameters: [userIdPath('id')],
    body: ref('GroupsReplace'),
    success: [json('The groups now, sorted.', ref('UserGroups'))],
    problems: BODY_PROBLEMS,
  },
  {
    method: 'PATCH',
    path: '/users/{id}/groups',
    tag: 'groups',
    summary: 'Add a user to server-side groups and remove it from others',
    description: 'Takes effect as `PUT` does.',
    caller: 'publisher',
    parameters: [userIdPath('id')],
    body: ref('GroupsChange'),
    success: [json('The groups now, sorted.', ref('UserGroups'))],
    problems: BODY_PROBLEMS,
  },
  {
    method: 'DELETE',
    path: '/users/{id}/groups',
    tag: 'groups',
    summary: 'Remove a user from every server-side group',
    description: 'Takes effect as `PUT` does.',
    caller: 'publisher',
    parameters: [userIdPath('id')],
    success: [json('The groups now: none.', ref('UserGroups'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/presence/events',
    tag: 'presence',
    summary: 'The SSE stream of users going online and offline, cluster-wide',
    description:
      'Opens with a `connected` event whose id is the resume point; then `online` and `offline` events, data `{"user", "connections", "ts"}`, each told once the change lasted `--presence-debounce`. Control events: `connected`, `gap` (the `Last-Event-ID` is older than the last `--presence-history` events; its id is the newest), `disconnect`. Reconnect with `Last-Event-ID` to resume.',
    caller: 'publisher-or-admin',
    parameters: [lastEventIdQuery, lastEventIdHeader],
    success: [stream('The stream: `id:`, `event:` and `data:` fields, heartbeat comments.')],
    problems: [401, 403, 503],
  },
  {
    method: 'DELETE',
    path: '/users/{id}/connections',
    tag: 'presence',
    summary: 'End every connection of a user (on every node)',
    description: 'Each gets a `disconnect` event with `reconnect: false`.',
    caller: 'publisher',
    parameters: [userIdPath('id')],
    success: [json('How many connections were ended.', ref('Closed'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/healthz',
    tag: 'health',
    summary: 'Liveness',
    caller: 'anyone',
    success: [json('The process runs.', ref('Health'))],
    problems: [],
  },
  {
    method: 'GET',
    path: '/readyz',
    tag: 'health',
    summary: 'Readiness, for load balancers',
    caller: 'anyone',
    success: [
      json('Ready for traffic.', ref('Health')),
      json('Draining, or the log backend does not answer: send traffic elsewhere.', ref('Health'), 503),
    ],
    problems: [],
  },
  {
    method: 'GET',
    path: '/herald.js',
    tag: 'meta',
    summary: 'The browser client, as one ES module',
    caller: 'anyone',
    success: [
      { status: 200, description: 'The module.', type: 'text/javascript', schema: { type: 'string' } },
    ],
    problems: [404],
  },
  {
    method: 'GET',
    path: '/openapi.json',
    tag: 'meta',
    summary: 'This document',
    caller: 'anyone',
    success: [json('The OpenAPI 3.1 document of the routes this node serves.', { type: 'object' })],
    problems: [],
  },
  {
    method: 'GET',
    path: '/metrics',
    tag: 'admin',
    summary: 'Prometheus metrics',
    caller: 'admin',
    success: [
      {
        status: 200,
        description: 'The Prometheus text format.',
        type: 'text/plain',
        schema: { type: 'string' },
      },
    ],
    problems: [401, 403],
  },
  {
    method: 'GET',
    path: '/admin/api/backup',
    tag: 'admin',
    summary: 'A consistent copy of the SQLite log, made while the node runs',
    description:
      "SQLite's online backup API; the copy carries no epoch, so a node restored from it tells its clients of the loss with a `gap`. 404 on the memory and Redis logs.",
    caller: 'admin',
    success: [
      {
        status: 200,
        description: 'The SQLite database file.',
        type: 'application/vnd.sqlite3',
        schema: { type: 'string', contentEncoding: 'binary' },
      },
    ],
    problems: [401, 403, 404],
  },
  {
    method: 'GET',
    path: '/admin/api/stats',
    tag: 'admin',
    summary: "The dashboard's figures",
    caller: 'admin',
    success: [json('The latest sample and the ones kept.', ref('AdminStats'))],
    problems: [401, 403],
  },
  {
    method: 'GET',
    path: '/admin/api/users',
    tag: 'admin',
    summary: 'Users online with their connections, a page at a time',
    caller: 'admin',
    parameters: listQuery(50),
    success: [json('One page.', ref('AdminUserPage'))],
    problems: [400, 401, 403, 503],
  },
  {
    method: 'GET',
    path: '/admin/api/users/{id}',
    tag: 'admin',
    summary: 'One user with its connections',
    caller: 'admin',
    parameters: [userIdPath('id')],
    success: [json('The user.', ref('AdminUser'))],
    problems: [400, 401, 403, 503],
  },
  {
    method: 'DELETE',
    path: '/admin/api/users/{id}/connections',
    tag: 'admin',
    summary: 'End every connection of a user',
    caller: 'admin',
    parameters: [userIdPath('id')],
    success: [json('How many connections were ended.', ref('Closed'))],
    problems: [400, 401, 403, 503],
  },
  {
    method: 'POST',
    path: '/admin/api/messages',
    tag: 'admin',
    summary: 'Publish one message from the dashboard',
    caller: 'admin',
    body: ref('Message'),
    success: [json('In the log.', ref('Accepted'), 202)],
    problems: [400, 401, 403, 409, 413, 415, 503],
  },
  {
    method: 'GET',
    path: '/admin/stream',
    tag: 'admin',
    summary: "The dashboard's live feed",
    description:
      'SSE: a `hello` event, then `stats` once a second and `tail` with the messages routed since.',
    caller: 'admin',
    parameters: [
      {
        name: 'payloads',
        in: 'query',
        description: '`1`: the tail shows the start of each payload.',
        schema: { type: 'string' },
      },
    ],
    success: [stream('The feed.')],
    problems: [401, 403],
  },
  {
    method: 'GET',
    path: '/sse/subscribe/{userId}',
    tag: 'classic',
    summary: "The classic tutorial's stream of one user",
    description: 'Starts with the plain message `连接成功` ("connected"), then as `/events`.',
    caller: 'subscriber',
    parameters: [userIdPath('userId'), tokenQuery, lastEventIdQuery, lastEventIdHeader],
    success: [stream('The stream.')],
    problems: SUBSCRIBE_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/sse/sendMessage',
    tag: 'classic',
    summary: 'Classic: a plain message to one user',
    caller: 'publisher',
    parameters: [{ ...userIdPath('userId'), in: 'query' }, classicMessage],
    success: [json('In the log.', ref('Accepted'))],
    problems: [400, 401, 403, 429, 503],
  },
  {
    method: 'GET',
    path: '/sse/groupSendMessage',
    tag: 'classic',
    summary: 'Classic: a plain message to every user whose id starts with `groupId`',
    caller: 'publisher',
    parameters: [
      {
        name: 'groupId',
        in: 'query',
        required: true,
        description: 'The user id prefix.',
        schema: ref('Name'),
      },
      classicMessage,
    ],
    success: [json('In the log.', ref('Accepted'))],
    problems: [400, 401, 403, 429, 503],
  },
  {
    method: 'GET',
    path: '/sse/batchSendMessage',
    tag: 'classic',
    summary: 'Classic: a plain message to everyone',
    caller: 'publisher',
    parameters: [classicMessage],
    success: [json('In the log.', ref('Accepted'))],
    problems: [400, 401, 403, 429, 503],
  },
  {
    method: 'GET',
    path: '/sse/close/{userId}',
    tag: 'classic',
    summary: 'Classic: end every connection of a user',
    caller: 'publisher',
    parameters: [userIdPath('userId')],
    success: [json('How many connections were ended.', ref('Closed'))],
    problems: PUBLISHER_PROBLEMS,
  },
  {
    method: 'GET',
    path: '/sse/getUserCount',
    tag: 'classic',
    summary: 'Classic: the number of users online',
    caller: 'publisher',
    success: [json('A bare JSON number.', { type: 'integer', minimum: 0 })],
    problems: [401, 403, 503],
  },
];

/**
 * Routes that are not part of the API, with the reason; the document leaves them out (as it does the web
 * root's static files, which `@fastify/static` marks hidden).
 */
export const NOT_API: Readonly<Record<string, string>> = {
  'GET /admin': "the dashboard's address (a redirect to its page)",
  'GET /admin/vendor/{file}': "the dashboard's chart library",
  'GET /problems/': 'the index of the pages that problem `type`s resolve to (HTML, for people)',
  'GET /problems/{code}': "the page a problem's `type` resolves to (HTML, for people)",
};
