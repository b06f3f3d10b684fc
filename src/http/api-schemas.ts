import { MAX_USER_GROUPS } from '../core/groups.js';
import { PROBLEM_TYPE_BASE } from '../errors.js';
import {
  EVENT_PATTERN,
  MAX_EVENT_LENGTH,
  MAX_ID_LENGTH,
  MAX_NAME_LENGTH,
  NAME_PATTERN,
  ONE_LINE_PATTERN,
  PUBLISHER_ID_PATTERN,
  RESERVED_EVENTS,
} from '../protocol/grammar.js';
import { MAX_INBOX_PAGE } from './inbox.js';
import { MAX_PAGE } from './presence.js';
import { DEFAULT_MAX_TTL_MS, MAX_BATCH, MAX_TARGETS } from './publish-request.js';

/**
 * The JSON Schemas (2020-12, the dialect of OpenAPI 3.1) of what Herald's HTTP API reads and answers: the
 * `components.schemas` of `GET /openapi.json`. Every limit and pattern comes from the constants the
 * validators check (`protocol/grammar.ts`, `publish-request.ts`); which fields exist, which are required
 * and how they nest is kept in step with the validators by `test/unit/api-schemas.test.ts` (random bodies:
 * the schema accepts exactly what the validator accepts) and `test/integration/openapi.test.ts` (the same
 * over HTTP, against the document the server serves).
 */

/** A JSON Schema: plain data, so it can be served as it is. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** `{"$ref": …}` to one of `API_SCHEMAS`. */
export const ref = (name: keyof typeof API_SCHEMAS): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

const name: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_NAME_LENGTH,
  pattern: NAME_PATTERN,
  description: `1 to ${MAX_NAME_LENGTH} letters, digits and . _ ~ @ : + -`,
  examples: ['alice'],
};

const names = (what: string): JsonSchema => ({
  type: 'array',
  maxItems: MAX_TARGETS,
  items: { $ref: '#/components/schemas/Name' },
  description: `${what}; at most ${MAX_TARGETS}`,
});

/** The largest `ttl` `parseMessage` accepts under the default `--inbox-max-ttl`, in whole seconds. */
const DEFAULT_MAX_TTL_SECONDS = Math.floor(DEFAULT_MAX_TTL_MS / 1000);

const groupNames = (what: string): JsonSchema => ({
  type: 'array',
  maxItems: MAX_USER_GROUPS,
  items: { $ref: '#/components/schemas/Name' },
  description: `${what}; at most ${MAX_USER_GROUPS}`,
});

const message: JsonSchema = {
  type: 'object',
  description: 'One message: who it goes to, its data, and optionally an event name, an id and a ttl.',
  required: ['to', 'data'],
  additionalProperties: false,
  properties: {
    to: { $ref: '#/components/schemas/Target' },
    data: {
      description:
        'A string is sent as it is; any other JSON value is sent JSON-encoded. Multi-line text becomes several `data:` lines.',
      examples: [{ total: 12 }],
    },
    event: { $ref: '#/components/schemas/EventName' },
    id: { $ref: '#/components/schemas/PublisherId' },
    ttl: {
      type: 'integer',
      minimum: 1,
      maximum: DEFAULT_MAX_TTL_SECONDS,
      description: `Seconds the message also waits in each addressed user's inbox, until acknowledged or expired: 1 to \`--inbox-max-ttl\`. The maximum is configurable; ${DEFAULT_MAX_TTL_SECONDS} (7 days) is its default, which this schema gives. Beyond it: a 400 with \`maxTtl\`.`,
      examples: [86_400],
    },
  },
};

const problem: JsonSchema = {
  type: 'object',
  description:
    'An RFC 9457 problem document. `type` is the problem type URI (the catalogue code at its end); extension members appear where they help.',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string', format: 'uri', examples: [`${PROBLEM_TYPE_BASE}invalid-request`] },
    title: { type: 'string', description: 'The same for every occurrence of the type.' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string', description: 'What exactly is wrong with this request.' },
    instance: { type: 'string', description: 'The request path (credentials redacted).' },
    field: { type: 'string', description: 'The offending field or parameter, e.g. `to.users[2]`.' },
    groups: { type: 'array', items: { type: 'string' }, description: 'Groups the token does not allow.' },
    retryAfter: {
      type: 'integer',
      minimum: 0,
      description: 'Seconds to wait; also the `Retry-After` header.',
    },
    limit: { type: 'number', description: 'The limit that was reached.' },
    scope: { type: 'string', enum: ['user', 'ip'], description: 'Which connection limit was reached.' },
    maxTtl: { type: 'integer', minimum: 0, description: 'The longest `ttl` this node accepts, in seconds.' },
    ids: {
      type: 'array',
      items: { type: 'string' },
      description: 'The acknowledged ids of messages not addressed to the user.',
    },
  },
};

const userPresence: JsonSchema = {
  type: 'object',
  required: ['id', 'online', 'connections'],
  properties: {
    id: { $ref: '#/components/schemas/Name' },
    online: { type: 'boolean' },
    connections: { type: 'integer', minimum: 0 },
  },
};

const connection: JsonSchema = {
  type: 'object',
  description: 'One open connection, as the dashboard lists it.',
  required: ['id', 'node', 'since', 'transport', 'remoteAddress'],
  properties: {
    id: { type: 'string' },
    node: { type: 'string' },
    since: { type: 'string', format: 'date-time' },
    transport: { type: 'string', examples: ['sse', 'sse-h2', 'poll'] },
    remoteAddress: { type: 'string' },
  },
};

const adminUser: JsonSchema = {
  allOf: [
    { $ref: '#/components/schemas/UserPresence' },
    {
      type: 'object',
      required: ['connectionList'],
      properties: {
        connectionList: {
          type: 'array',
          items: { $ref: '#/components/schemas/Connection' },
          description: "This node's connections of the user.",
        },
      },
    },
  ],
};

/** Every schema the document names, by its name in `components.schemas`. */
export const API_SCHEMAS = {
  Name: name,
  EventName: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_EVENT_LENGTH,
    pattern: EVENT_PATTERN,
    not: { enum: [...RESERVED_EVENTS] },
    description: `The SSE event name: a letter, then letters, digits and . _ : -, at most ${MAX_EVENT_LENGTH}; ${[...RESERVED_EVENTS].join(', ')} are reserved.`,
    examples: ['order'],
  },
  PublisherId: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_ID_LENGTH,
    pattern: PUBLISHER_ID_PATTERN,
    description: `A publisher-chosen id: a letter or _, then letters, digits and . _ ~ : + -, at most ${MAX_ID_LENGTH}. Reserved for --history-age once used, so a retry with the same id is a 409, never a duplicate.`,
    examples: ['order-12'],
  },
  Target: {
    type: 'object',
    description:
      'Who receives the message: any of these, at least one recipient. A connection matched several ways receives it once.',
    additionalProperties: false,
    properties: {
      users: names('user ids'),
      groups: names('group names'),
      userPrefix: { $ref: '#/components/schemas/Name', description: 'every user whose id starts with it' },
      all: { type: 'boolean', description: 'true: everyone' },
    },
    anyOf: [
      { required: ['users'], properties: { users: { type: 'array', minItems: 1 } } },
      { required: ['groups'], properties: { groups: { type: 'array', minItems: 1 } } },
      { required: ['userPrefix'] },
      { required: ['all'], properties: { all: { const: true } } },
    ],
    examples: [{ users: ['alice'] }, { groups: ['team-a'] }, { all: true }],
  },
  Message: message,
  Batch: {
    type: 'array',
    description: `Up to ${MAX_BATCH} messages, validated whole and appended atomically, in order.`,
    minItems: 1,
    maxItems: MAX_BATCH,
    items: { $ref: '#/components/schemas/Message' },
  },
  PublishRequest: {
    oneOf: [{ $ref: '#/components/schemas/Message' }, { $ref: '#/components/schemas/Batch' }],
  },
  Accepted: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', description: 'The message id: what subscribers see in `id:`.' } },
  },
  AcceptedBatch: {
    type: 'object',
    required: ['ids'],
    properties: { ids: { type: 'array', items: { type: 'string' }, description: 'In the order sent.' } },
  },
  Problem: problem,
  PresenceSummary: {
    type: 'object',
    required: ['connections', 'users'],
    properties: {
      connections: { type: 'integer', minimum: 0, description: 'open connections' },
      users: { type: 'integer', minimum: 0, description: 'distinct users online' },
    },
  },
  UserPresence: userPresence,
  UserPage: {
    type: 'object',
    required: ['users'],
    properties: {
      users: { type: 'array', items: { $ref: '#/components/schemas/UserPresence' } },
      nextCursor: {
        type: 'string',
        description: 'Pass back as `cursor` for the next page; absent on the last.',
      },
    },
  },
  Closed: {
    type: 'object',
    required: ['user', 'closed'],
    properties: {
      user: { $ref: '#/components/schemas/Name' },
      closed: { type: 'integer', minimum: 0, description: 'connections ended' },
    },
  },
  PolledMessage: {
    type: 'object',
    required: ['id', 'data'],
    properties: {
      id: { type: 'string' },
      event: { type: 'string', description: 'absent for the default `message` event' },
      data: { type: 'string', description: 'the data as text, exactly as the SSE frame carries it' },
      json: { const: true, description: '`data` is JSON text' },
      groups: { type: 'array', items: { type: 'string' }, description: 'the groups it was addressed to' },
      direct: { const: true, description: 'with `groups`: also addressed to a user, a prefix or everyone' },
    },
  },
  PollAnswer: {
    type: 'object',
    required: ['messages', 'lastEventId'],
    properties: {
      messages: { type: 'array', items: { $ref: '#/components/schemas/PolledMessage' } },
      lastEventId: { type: 'string', description: 'send it as `lastEventId` on the next poll' },
      session: { type: 'string', description: 'send it back as `session` on the next poll' },
      gap: {
        type: 'object',
        required: ['reason', 'lastEventId'],
        properties: { reason: { type: 'string' }, lastEventId: { type: 'string' } },
      },
      disconnect: {
        type: 'object',
        required: ['reason', 'reconnect'],
        properties: { reason: { type: 'string' }, reconnect: { type: 'boolean' } },
      },
    },
  },
  Health: {
    type: 'object',
    required: ['status'],
    properties: {
      status: { type: 'string', enum: ['ok', 'ready', 'not-ready'] },
      reason: { type: 'string', description: 'why not ready: `draining`, `log-unreachable`' },
    },
  },
  Connection: connection,
  AdminUser: adminUser,
  AdminUserPage: {
    type: 'object',
    required: ['users'],
    properties: {
      users: { type: 'array', items: { $ref: '#/components/schemas/AdminUser' } },
      nextCursor: { type: 'string' },
    },
  },
  AdminStats: {
    type: 'object',
    required: ['node', 'latest', 'history'],
    properties: {
      node: { type: 'string', description: "this node's id" },
      latest: { type: 'object', description: 'the latest sample: one entry per node, with its figures' },
      history: { type: 'array', items: { type: 'object' }, description: 'the samples kept, oldest first' },
    },
  },
  MessageId: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_ID_LENGTH,
    pattern: ONE_LINE_PATTERN,
    description: `A message id as the stream gave it in \`id:\` (or a publisher-chosen one): one line, at most ${MAX_ID_LENGTH}.`,
  },
  InboxMessage: {
    type: 'object',
    required: ['id', 'data', 'ts', 'expiresAt'],
    properties: {
      id: { type: 'string' },
      event: { type: 'string', description: 'absent for the default `message` event' },
      data: { description: "the publisher's data: the JSON value as sent, or the text" },
      ts: { type: 'integer', description: 'when the log accepted it (ms since the epoch)' },
      expiresAt: { type: 'integer', description: 'when it stops waiting (ms since the epoch)' },
    },
  },
  InboxPage: {
    type: 'object',
    required: ['user', 'unread', 'messages'],
    properties: {
      user: { $ref: '#/components/schemas/Name' },
      unread: { type: 'integer', minimum: 0, description: 'how many messages wait, on every page' },
      messages: {
        type: 'array',
        items: { $ref: '#/components/schemas/InboxMessage' },
        description: 'in log order',
      },
      nextCursor: {
        type: 'string',
        description: 'Pass back as `cursor` for the next page; absent on the last.',
      },
    },
  },
  InboxAck: {
    description: `Exactly one of \`through\` (that message and every earlier one of the inbox) and \`ids\` (1 to ${MAX_INBOX_PAGE} ids).`,
    oneOf: [
      {
        type: 'object',
        required: ['through'],
        additionalProperties: false,
        properties: { through: { $ref: '#/components/schemas/MessageId' } },
      },
      {
        type: 'object',
        required: ['ids'],
        additionalProperties: false,
        properties: {
          ids: {
            type: 'array',
            minItems: 1,
            maxItems: MAX_INBOX_PAGE,
            items: { $ref: '#/components/schemas/MessageId' },
          },
        },
      },
    ],
    examples: [{ ids: ['1764095261000123-7'] }, { through: '1764095261000123-7' }],
  },
  InboxAcked: {
    type: 'object',
    required: ['acked', 'unread', 'unknown'],
    properties: {
      acked: { type: 'integer', minimum: 0, description: 'messages acknowledged now' },
      unread: { type: 'integer', minimum: 0, description: 'messages still waiting' },
      unknown: {
        type: 'array',
        items: { type: 'string' },
        description: 'ids of no message kept now (never with a ttl, expired, or from a restarted log)',
      },
    },
  },
  InboxCleared: {
    type: 'object',
    required: ['user', 'cleared'],
    properties: {
      user: { $ref: '#/components/schemas/Name' },
      cleared: { type: 'integer', minimum: 0, description: 'messages acknowledged' },
    },
  },
  UserGroups: {
    type: 'object',
    required: ['user', 'groups'],
    properties: {
      user: { $ref: '#/components/schemas/Name' },
      groups: {
        type: 'array',
        items: { $ref: '#/components/schemas/Name' },
        description: "the user's server-side groups now, sorted",
      },
    },
  },
  GroupsReplace: {
    type: 'object',
    required: ['groups'],
    additionalProperties: false,
    properties: { groups: groupNames('the groups the user is in from now on') },
  },
  GroupsChange: {
    type: 'object',
    description: `At least one of \`add\` and \`remove\` (a group in both is removed); the user ends with at most ${MAX_USER_GROUPS} groups, else a 400.`,
    minProperties: 1,
    additionalProperties: false,
    properties: { add: groupNames('groups to join'), remove: groupNames('groups to leave') },
  },
} as const satisfies Record<string, JsonSchema>;

/** The `limit` query parameter of inbox listings: an integer from 1 to `MAX_INBOX_PAGE`. */
export const inboxLimit: JsonSchema = { type: 'integer', minimum: 1, maximum: MAX_INBOX_PAGE, default: 100 };

/** The `limit` query parameter of user listings: an integer from 1 to `MAX_PAGE`. */
export const pageLimit = (fallback: number): JsonSchema => ({
  type: 'integer',
  minimum: 1,
  maximum: MAX_PAGE,
  default: fallback,
});
