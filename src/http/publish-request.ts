import type { MessageDraft } from '../core/message.js';
import { HeraldError, Problems } from '../errors.js';
import { checkEventName, checkName, checkPublisherId } from '../protocol/grammar.js';
import { type Target, topicsOf } from '../protocol/topics.js';

/** Most recipients one message may list in `to.users` or `to.groups`. */
export const MAX_TARGETS = 1000;
/** Most messages in one batch publish. */
export const MAX_BATCH = 1000;
/** `--inbox-max-ttl`'s default: a week, as mobile push services allow. */
export const DEFAULT_MAX_TTL_MS = 7 * 86_400_000;

const MESSAGE_FIELDS = new Set(['to', 'event', 'data', 'id', 'ttl']);
const TARGET_FIELDS = new Set(['users', 'groups', 'userPrefix', 'all']);

const invalid = (field: string, detail: string): HeraldError =>
  new HeraldError(Problems.invalidRequest, detail, { field });

/**
 * Validates a `POST /messages` body (one message) and turns it into a log draft. `ttl` (seconds, at most
 * `maxTtlMs`) makes it wait in the addressed users' inboxes.
 */
export function parseMessage(body: unknown, at = '', maxTtlMs = DEFAULT_MAX_TTL_MS): MessageDraft {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid(at || '(body)', `${at || 'the body'} must be a JSON object`);
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!MESSAGE_FIELDS.has(key)) throw invalid(`${at}${key}`, `unknown field "${at}${key}"`);
  }
  const target = parseTarget(fields.to, `${at}to`);
  let event: string | undefined;
  if (fields.event !== undefined) {
    const problem = checkEventName(fields.event, `${at}event`);
    if (problem !== undefined) throw invalid(`${at}event`, problem);
    event = fields.event as string;
  }
  let id: string | undefined;
  if (fields.id !== undefined) {
    const problem = checkPublisherId(fields.id, `${at}id`);
    if (problem !== undefined) throw invalid(`${at}id`, problem);
    id = fields.id as string;
  }
  const ttlMs = fields.ttl === undefined ? undefined : parseTtl(fields.ttl, `${at}ttl`, maxTtlMs);
  if (!('data' in fields) || fields.data === undefined) throw invalid(`${at}data`, `${at}data is required`);
  // A string is text; any other JSON value is encoded here and marked, so clients parse it back.
  const draft: MessageDraft =
    typeof fields.data === 'string'
      ? { id, topics: topicsOf(target), event, data: fields.data }
      : { id, topics: topicsOf(target), event, data: JSON.stringify(fields.data), json: true };
  return ttlMs === undefined ? draft : { ...draft, ttlMs };
}

/** A `ttl`: whole seconds from 1 to the maximum; returned in milliseconds. */
function parseTtl(value: unknown, at: string, maxTtlMs: number): number {
  const maxSeconds = Math.floor(maxTtlMs / 1000);
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalid(at, `${at} must be a whole number of seconds`);
  }
  if (value < 1) throw invalid(at, `${at} must be at least 1 second (got ${value})`);
  if (value > maxSeconds) {
    throw new HeraldError(
      Problems.invalidRequest,
      `${at} is at most ${maxSeconds} seconds (--inbox-max-ttl); got ${value}`,
      { field: at, maxTtl: maxSeconds },
    );
  }
  return value * 1000;
}

/** Validates a batch body: a JSON array of messages, published atomically and in order. */
export function parseBatch(body: unknown[], maxTtlMs = DEFAULT_MAX_TTL_MS): MessageDraft[] {
  if (body.length === 0) throw invalid('(body)', 'a batch must hold at least one message');
  if (body.length > MAX_BATCH) throw invalid('(body)', `a batch holds at most ${MAX_BATCH} messages`);
  return body.map((item, index) => parseMessage(item, `[${index}].`, maxTtlMs));
}

function parseTarget(value: unknown, at: string): Target {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(at, `${at} is required: an object with users, groups, userPrefix or all`);
  }
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!TARGET_FIELDS.has(key)) throw invalid(`${at}.${key}`, `unknown field "${at}.${key}"`);
  }
  const users = parseNames(fields.users, `${at}.users`, 'user id');
  const groups = parseNames(fields.groups, `${at}.groups`, 'group');
  let userPrefix: string | undefined;
  if (fields.userPrefix !== undefined) {
    const problem = checkName(fields.userPrefix, `${at}.userPrefix`);
    if (problem !== undefined) throw invalid(`${at}.userPrefix`, problem);
    userPrefix = fields.userPrefix as string;
  }
  if (fields.all !== undefined && typeof fields.all !== 'boolean') {
    throw invalid(`${at}.all`, `${at}.all must be true or false`);
  }
  const all = fields.all === true;
  if (!all && users.length === 0 && groups.length === 0 && userPrefix === undefined) {
    throw invalid(at, `${at} names no recipient: give users, groups, userPrefix or all: true`);
  }
  return { users, groups, userPrefix, all };
}

function parseNames(value: unknown, at: string, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(at, `${at} must be an array of ${what}s`);
  if (value.length > MAX_TARGETS) throw invalid(at, `${at} lists at most ${MAX_TARGETS} entries`);
  value.forEach((name, index) => {
    const problem = checkName(name, `${at}[${index}]`);
    if (problem !== undefined) throw invalid(`${at}[${index}]`, problem);
  });
  return value as string[];
}
