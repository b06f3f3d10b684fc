/** Herald's problem `type`: `/problems/<code>`, relative to the server (or absolute, from older servers). */
const PROBLEM_TYPE = /\/problems\/([a-z0-9-]+)$/;

/** Why a message was not published: Herald's answer (an RFC 9457 problem), or what went wrong on the way. */
export class PublishError extends Error {
  /** The HTTP status Herald answered with; undefined when no answer came (network error, timeout). */
  readonly status: number | undefined;
  /**
   * Herald's problem code (`invalid-request`, `duplicate-id`, `unauthorized`, … — docs/api.md lists
   * them), or one of the SDK's own: `network` (no answer), `timeout`, `queue-full`, `closed`,
   * `unserializable` (the message is not JSON).
   */
  readonly code: string;
  /** The offending field of this message, as in a single publish (`to.users[0]`), when Herald named one. */
  readonly field: string | undefined;
  /** The problem document as Herald sent it, when it sent one. */
  readonly problem: Readonly<Record<string, unknown>> | undefined;
  /**
   * True when the message may have been stored anyway (the answer was lost, or the log timed out): it is
   * safe to publish it again with the same `id`, which Herald refuses (`409`) if it was stored.
   */
  readonly outcomeUnknown: boolean;

  constructor(
    message: string,
    details: {
      status?: number;
      code: string;
      field?: string;
      problem?: Record<string, unknown>;
      outcomeUnknown?: boolean;
      cause?: unknown;
    },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'PublishError';
    this.status = details.status;
    this.code = details.code;
    this.field = details.field;
    this.problem = details.problem;
    this.outcomeUnknown = details.outcomeUnknown ?? false;
  }
}

/** An answer's body as a JSON object (a problem document, or `{"ids"}`), or undefined when it is not one. */
export function jsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A problem's code: the last segment of its `type`, or `http-<status>` when the body is no problem. */
export function codeOf(problem: Record<string, unknown> | undefined, status: number): string {
  const type = problem?.type;
  const code = typeof type === 'string' ? PROBLEM_TYPE.exec(type)?.[1] : undefined;
  return code ?? `http-${status}`;
}
