/**
 * The error catalogue: every error Herald answers with, its stable code and HTTP status.
 * Bodies follow RFC 9457 (`application/problem+json`); `type` is derived from the code, and
 * `docs/api.md` lists every entry (a test fails when the two drift apart).
 */

/** One kind of problem. */
export interface ProblemType {
  /** Stable machine-readable code; also the last segment of the problem `type` URI. */
  readonly code: string;
  readonly status: number;
  /** Short, human-readable summary that does not change from occurrence to occurrence. */
  readonly title: string;
  /** When it happens, for people (Markdown code spans allowed): the problem's page and `docs/api.md` say it. */
  readonly when: string;
}

const problem = (code: string, status: number, title: string, when: string): ProblemType => ({
  code,
  status,
  title,
  when,
});

export const Problems = {
  invalidRequest: problem(
    'invalid-request',
    400,
    'The request is invalid',
    'a field, parameter or id is invalid; `field` names it',
  ),
  malformedJson: problem(
    'malformed-json',
    400,
    'The body is not valid JSON',
    'the body is not JSON, or is empty',
  ),
  unauthorized: problem(
    'unauthorized',
    401,
    'Credentials are missing or invalid',
    'credentials missing, expired or invalid (`WWW-Authenticate: Bearer`)',
  ),
  forbidden: problem(
    'forbidden',
    403,
    'The credentials do not allow this',
    "valid credentials that do not allow this (another user's stream, a group outside the token)",
  ),
  notFound: problem('not-found', 404, 'No such resource', 'no such route'),
  notAddressed: problem(
    'not-addressed',
    403,
    'The message is not addressed to this user',
    'an acknowledgement names a message not addressed to the user',
  ),
  duplicateId: problem(
    'duplicate-id',
    409,
    'The message id is already used',
    'the publisher-chosen `id` was used within `--history-age`',
  ),
  bodyTooLarge: problem(
    'body-too-large',
    413,
    'The body is too large',
    'the body is over `--body-limit` (64 KiB)',
  ),
  uriTooLong: problem(
    'uri-too-long',
    414,
    'The request URL is too long',
    'the URL is over `--max-url-length`',
  ),
  unsupportedMediaType: problem(
    'unsupported-media-type',
    415,
    'The body must be application/json',
    'a body that is not `application/json`',
  ),
  headersTooLarge: problem(
    'headers-too-large',
    431,
    'The request headers or URL are too large',
    'request headers over `--max-header-size`',
  ),
  tooManyRequests: problem(
    'too-many-requests',
    429,
    'Too many requests',
    'publish rate over the limit (`Retry-After`)',
  ),
  tooManyConnections: problem(
    'too-many-connections',
    429,
    'Too many open connections',
    'per-user or per-address connection limit (`Retry-After`)',
  ),
  internal: problem('internal', 500, 'Internal server error', 'a bug: logged with its stack'),
  logUnavailable: problem(
    'log-unavailable',
    503,
    'The message log is unavailable; nothing was accepted',
    "the log backend is unreachable; nothing was accepted, retry. The cause is in the node's log",
  ),
  draining: problem(
    'draining',
    503,
    'The server is shutting down',
    'the node is shutting down; retry on another node',
  ),
  serverFull: problem(
    'server-full',
    503,
    'The server holds as many connections as it may',
    'the node holds `--max-connections` streams (`Retry-After`)',
  ),
  authUnavailable: problem(
    'auth-unavailable',
    503,
    'The token keys cannot be fetched; retry later',
    'the JWKS endpoint cannot be reached (`Retry-After`)',
  ),
} as const satisfies Record<string, ProblemType>;

/**
 * Base of problem types; `type` is this plus the code. A relative reference with the full path (as RFC 9457
 * §3.1.1 recommends when an absolute URI is not possible: a node does not know the origin its clients use):
 * it resolves against the request's URL to a page that this Herald serves (`http/problem-pages.ts`).
 */
export const PROBLEM_TYPE_BASE = '/problems/';

/** An error that maps to one catalogue entry, with the specifics of this occurrence. */
export class HeraldError extends Error {
  constructor(
    readonly problem: ProblemType,
    /** What exactly is wrong, for the client (no secrets). */
    readonly detail: string,
    /** Extra problem members, such as `retryAfter` or the offending `field`. */
    readonly extra: Readonly<Record<string, unknown>> = {},
    /** Response headers this occurrence needs (a protocol's own `WWW-Authenticate` challenge). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
    this.name = 'HeraldError';
  }
}

/** The RFC 9457 body for a problem. */
export function problemBody(
  type: ProblemType,
  detail: string,
  instance?: string,
  extra: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  return {
    type: PROBLEM_TYPE_BASE + type.code,
    title: type.title,
    status: type.status,
    detail,
    ...(instance === undefined ? {} : { instance }),
    ...extra,
  };
}

/**
 * The node cannot start for a reason of its surroundings, not a bug: its storage cannot be opened or
 * reached, a file is in use. The CLI prints the message alone and exits 1; any other error at start is a
 * bug and is printed with its stack.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}
