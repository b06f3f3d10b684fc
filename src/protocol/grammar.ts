/**
 * What a valid user id, group name, event name and publisher-chosen message id look like.
 * Shared by the HTTP API, the protocol adapters and the client, so every door refuses the same input.
 */

/** Maximum length of a user id, group name or user prefix. */
export const MAX_NAME_LENGTH = 128;
/** Maximum length of an event name. */
export const MAX_EVENT_LENGTH = 64;
/** Maximum length of a publisher-chosen id. */
export const MAX_ID_LENGTH = 128;

/** What a user id, group name or user prefix is made of; also the `pattern` of the API's JSON schemas. */
export const NAME_PATTERN = '^[A-Za-z0-9._~@:+-]+$';
/** What an event name is made of (reserved names aside); also its JSON schema `pattern`. */
export const EVENT_PATTERN = '^[A-Za-z][A-Za-z0-9._:-]*$';
/**
 * What a publisher-chosen id is made of; also its JSON schema `pattern`. Log positions always start with a
 * digit (`isLogPosition` in position.ts); publisher ids start with a letter or `_`, so the two never collide.
 */
export const PUBLISHER_ID_PATTERN = '^[A-Za-z_][A-Za-z0-9._~:+-]*$';

const NAME = new RegExp(NAME_PATTERN);
const EVENT = new RegExp(EVENT_PATTERN);
const PUBLISHER_ID = new RegExp(PUBLISHER_ID_PATTERN);
const LINE_OR_NUL = /[\r\n\0]/;
/** A one-line string (no CR, LF or NUL: what `LINE_OR_NUL` refuses); the JSON schema `pattern` of message ids. */
export const ONE_LINE_PATTERN = '^[^\\r\\n\\u0000]*$';

/**
 * Event names Herald itself sends, or its client reports (`state`, `error`); publishers may not use them,
 * so they cannot be spoofed or shadow the client's own events.
 */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  'connected',
  'gap',
  'disconnect',
  'inbox',
  'groups',
  'state',
  'error',
]);

/** Returns why `value` is not a valid user id or group name, or `undefined` when it is. */
export function checkName(value: unknown, what: string): string | undefined {
  if (typeof value !== 'string') return `${what} must be a string`;
  if (value.length === 0 || value.length > MAX_NAME_LENGTH)
    return `${what} must be 1 to ${MAX_NAME_LENGTH} characters long`;
  if (!NAME.test(value)) return `${what} may contain only letters, digits and . _ ~ @ : + -`;
  return undefined;
}

/** Returns why `value` is not a valid event name, or `undefined` when it is. */
export function checkEventName(value: unknown, what = 'event'): string | undefined {
  if (typeof value !== 'string') return `${what} must be a string`;
  if (LINE_OR_NUL.test(value)) return `${what} must not contain CR, LF or NUL`;
  if (value.length === 0 || value.length > MAX_EVENT_LENGTH)
    return `${what} must be 1 to ${MAX_EVENT_LENGTH} characters long`;
  if (!EVENT.test(value))
    return `${what} must start with a letter and contain only letters, digits and . _ : -`;
  if (RESERVED_EVENTS.has(value)) return `${what} "${value}" is reserved by Herald`;
  return undefined;
}

/** Returns why `value` is not a valid publisher-chosen message id, or `undefined` when it is. */
export function checkPublisherId(value: unknown, what = 'id'): string | undefined {
  if (typeof value !== 'string') return `${what} must be a string`;
  if (LINE_OR_NUL.test(value)) return `${what} must not contain CR, LF or NUL`;
  if (value.length === 0 || value.length > MAX_ID_LENGTH)
    return `${what} must be 1 to ${MAX_ID_LENGTH} characters long`;
  if (!PUBLISHER_ID.test(value))
    return `${what} must start with a letter or _ (ids starting with a digit are assigned by Herald) and contain only letters, digits and . _ ~ : + -`;
  return undefined;
}

/** True when a Last-Event-ID value could be an id at all (single line, bounded); anything else is a gap. */
export function isPlausibleLastEventId(value: string): boolean {
  return value.length > 0 && value.length <= MAX_ID_LENGTH && !LINE_OR_NUL.test(value);
}
