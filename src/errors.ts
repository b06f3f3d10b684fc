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
}

const problem = (code: string, status: number, title: string): ProblemType => ({ code, status, title });

export const Problems = {
  invalidRequest: problem('invalid-request', 400, 'The request is invalid'),
  malformedJson: problem('malformed-json', 400, 'The body is not valid JSON'),
  unauthorized: problem('unauthorized', 401, 'Credentials are missing or invalid'),
  forbidden: problem('forbidden', 403, 'The credentials do not allow this'),
  notFound: problem('not-found', 404, 'No such resource'),
  notAddressed: problem('not-addressed', 403, 'The message is not addressed to this user'),
  duplicateId: problem('duplicate-id', 409, 'The message id is already used'),
  bodyTooLarge: problem('body-too-large', 413, 'The body is too large'),
  uriTooLong: problem('uri-too-long', 414, 'The request URL is too long'),
  unsupportedMediaType: problem('unsupported-media-type', 415, 'The body must be application/json'),
  headersTooLarge: problem('headers-too-large', 431, 'The request headers or URL are too large'),
  tooManyRequests: problem('too-many-requests', 429, 'Too many requests'),
  tooManyConnections: problem('too-many-connections', 429, 'Too many open connections'),
  internal: problem('internal', 500, 'Internal server error'),
  logUnavailable: problem('log-unavailable', 503, 'The message log is unavailable; nothing was accepted'),
  draining: problem('draining', 503, 'The server is shutting down'),
  serverFull: problem('server-full', 503, 'The server holds as many connections as it may'),
  authUnavailable: problem('auth-unavailable', 503, 'The token keys cannot be fetched; retry later'),
} as const satisfies Record<string, ProblemType>;

/** Base URI of problem types; `type` is this plus the code. */
export const PROBLEM_TYPE_BASE = 'https://herald.dev/problems/';

/** An error that maps to one catalogue entry, with the specifics of this occurrence. */
export class HeraldError extends Error {
  constructor(
    readonly problem: ProblemType,
    /** What exactly is wrong, for the client (no secrets). */
    readonly detail: string,
    /** Extra problem members, such as `retryAfter` or the offending `field`. */
    readonly extra: Readonly<Record<string, unknown>> = {},
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
