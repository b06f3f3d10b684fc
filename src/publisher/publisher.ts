import { randomBytes } from 'node:crypto';
import { codeOf, jsonObject, PublishError } from './errors.js';
import { type Answer, http1Transport, http2Transport, type NoAnswer, type Transport } from './transport.js';

/** Who receives a message: any of these, at least one (Herald's `to`, docs/api.md). */
export interface Target {
  readonly users?: readonly string[];
  readonly groups?: readonly string[];
  readonly userPrefix?: string;
  readonly all?: boolean;
}

/** One message, as `POST /messages` takes it. */
export interface OutgoingMessage {
  readonly to: Target;
  /** A string is sent as is; any other JSON value is sent JSON-encoded. */
  readonly data: unknown;
  /** Event name: a letter, then letters, digits and `._:-`, at most 64. */
  readonly event?: string;
  /**
   * The message's id, reserved by Herald for `--history-age`: a second publish with it is refused
   * (`409`). Without one, the publisher draws one (see `autoId`).
   */
  readonly id?: string;
}

/** How a `Publisher` reaches Herald and batches. */
export interface PublisherOptions {
  /** Herald's base URL, e.g. `http://127.0.0.1:8080` (a path prefix is kept: `https://x/herald`). */
  readonly url: string | URL;
  /** The publisher credential (`--publish-key`, or a publisher token), sent as `Authorization: Bearer`. */
  readonly key?: string;
  /** `http1` (default): kept-alive HTTP/1.1 connections. `http2`: one session (h2c on `http:`). */
  readonly protocol?: 'http1' | 'http2';
  /**
   * How long a message may wait for others to share its request while requests are in flight, in ms
   * (default 1). With none in flight a batch leaves at the end of the current event-loop turn.
   */
  readonly lingerMs?: number;
  /** Most messages per request; Herald takes 1000 at most (default 1000). */
  readonly maxBatch?: number;
  /** Most body bytes per request; keep it under Herald's `--body-limit`, 64 KiB by default (default 60 KiB). */
  readonly maxBatchBytes?: number;
  /** Requests in flight at once, hence connections (HTTP/1.1) or streams (HTTP/2) (default 4). */
  readonly maxInFlight?: number;
  /** Messages waiting to be sent before `publish` refuses more with `queue-full` (default 100 000). */
  readonly maxQueued?: number;
  /** Retries of a request that got no answer or an answer asking to retry (default 5). */
  readonly retries?: number;
  /** Delay before the first retry in ms, doubled each time up to 1 s, with jitter (default 50). */
  readonly retryDelayMs?: number;
  /** Time a request may take before it is given up and retried, in ms (default 10 000). */
  readonly timeoutMs?: number;
  /**
   * Give every message without an `id` one (default true), so a retry after a lost answer is refused by
   * Herald instead of stored twice. Herald keeps each id for `--history-age` (memory, Redis or SQLite).
   * Without ids, a request whose outcome is unknown is not retried: its messages fail `outcomeUnknown`.
   */
  readonly autoId?: boolean;
  /** Extra CA certificates trusted for `https:` (a Herald with a private CA). */
  readonly ca?: string | Buffer;
}

/** A message waiting for its answer. */
interface Pending {
  readonly json: string;
  readonly bytes: number;
  readonly id: string | undefined;
  /** Whether the publisher drew the id (so no one else can have used it). */
  readonly drawnId: boolean;
  readonly resolve: (id: string) => void;
  readonly reject: (error: PublishError) => void;
  /** The request that may have stored it (no answer came); undefined while every answer was definite. */
  unknownIn: number | undefined;
}

const DEFAULTS = {
  lingerMs: 1,
  maxBatch: 1000,
  maxBatchBytes: 60 * 1024,
  maxInFlight: 4,
  maxQueued: 100_000,
  retries: 5,
  retryDelayMs: 50,
  timeoutMs: 10_000,
};

/** The index in a batch that a problem's `field` names (`[3].to.users[0]`), and the field without it. */
const BATCH_FIELD = /^\[(\d+)\]\.?(.*)$/;

/**
 * Publishes messages to Herald from a Node backend. `publish` resolves with the message's id once Herald
 * stored it; calls made close together share one batch request (`POST /messages` with an array, which
 * Herald validates whole and appends atomically), so a burst of notifications costs a few requests.
 *
 * - Batching: a batch leaves when it is full (`maxBatch`, `maxBatchBytes`), at the end of the current
 *   event-loop turn when no request is in flight, else after `lingerMs` or when a request returns.
 * - Retries: a request without an answer (connection dropped, timeout), or answered 429 or 5xx, is sent
 *   again with the same ids after a backoff; a `409` for an id whose earlier request got no answer means
 *   that request was stored, and its messages resolve.
 * - Errors are per message: when Herald refuses a batch for one message (a `400` naming `[i]`, a `409`
 *   for a reused id), only that message's promise rejects and the others are sent again.
 */
export class Publisher {
  private readonly options: typeof DEFAULTS & { autoId: boolean };
  private readonly transport: Transport;
  private readonly idPrefix = `p${randomBytes(9).toString('hex')}.`;
  private idCount = 0;
  private requestCount = 0;
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: PublisherOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`Publisher: url must be http: or https:, not ${url.protocol}`);
    }
    const pick = <K extends keyof typeof DEFAULTS>(key: K): number => {
      const value = options[key] ?? DEFAULTS[key];
      if (!Number.isFinite(value) || value < 0)
        throw new RangeError(`Publisher: ${key} must be a number ≥ 0`);
      return value;
    };
    this.options = {
      lingerMs: pick('lingerMs'),
      maxBatch: Math.max(1, Math.min(1000, pick('maxBatch'))),
      maxBatchBytes: Math.max(1, pick('maxBatchBytes')),
      maxInFlight: Math.max(1, pick('maxInFlight')),
      maxQueued: pick('maxQueued'),
      retries: pick('retries'),
      retryDelayMs: pick('retryDelayMs'),
      timeoutMs: Math.max(1, pick('timeoutMs')),
      autoId: options.autoId ?? true,
    };
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
    const transportOptions = {
      url,
      headers,
      timeoutMs: this.options.timeoutMs,
      connections: this.options.maxInFlight,
      ca: options.ca,
    };
    this.transport =
      options.protocol === 'http2' ? http2Transport(transportOptions) : http1Transport(transportOptions);
  }

  /** Publishes one message; resolves with its id once Herald stored it, rejects with a `PublishError`. */
  publish(message: OutgoingMessage): Promise<string> {
    if (this.closed) return Promise.reject(new PublishError('the publisher is closed', { code: 'closed' }));
    if (this.queue.length >= this.options.maxQueued) {
      return Promise.reject(
        new PublishError(`${this.queue.length} messages are waiting to be sent`, { code: 'queue-full' }),
      );
    }
    const drawnId = message.id === undefined && this.options.autoId;
    const id = drawnId ? `${this.idPrefix}${(this.idCount++).toString(36)}` : message.id;
    let json: string;
    try {
      json = JSON.stringify(drawnId ? { ...message, id } : message);
    } catch (error) {
      const reason = (error as Error).message;
      return Promise.reject(
        new PublishError(`the message is not JSON: ${reason}`, { code: 'unserializable' }),
      );
    }
    return new Promise((resolve, reject) => {
      const bytes = Buffer.byteLength(json);
      this.queue.push({ json, bytes, id, drawnId, resolve, reject, unknownIn: undefined });
      this.queuedBytes += bytes + 1;
      this.schedule();
    });
  }

  /** Sends what is queued, waits for every answer, then closes the connections. Later publishes reject. */
  async close(): Promise<void> {
    this.closed = true;
    this.flush();
    if (this.queue.length > 0 || this.inFlight > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await this.transport.close();
  }

  private schedule(): void {
    if (this.inFlight >= this.options.maxInFlight) return; // a returning request flushes
    if (this.queue.length >= this.options.maxBatch || this.queuedBytes >= this.options.maxBatchBytes) {
      this.flush();
    } else if (this.inFlight === 0) {
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.flush();
      });
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.options.lingerMs);
    }
  }

  /** Sends queued messages in batches while requests may be added. */
  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      this.send(this.takeBatch(), 0);
    }
    this.notifyIdle();
  }

  /** The next batch off the queue: at least one message, within the limits, no id twice. */
  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    const ids = new Set<string>();
    let bytes = 2;
    for (const pending of this.queue) {
      if (batch.length > 0) {
        if (batch.length >= this.options.maxBatch) break;
        if (bytes + pending.bytes + 1 > this.options.maxBatchBytes) break;
        // Herald refuses a batch that holds an id twice: the second goes in the next request.
        if (pending.id !== undefined && ids.has(pending.id)) break;
      }
      batch.push(pending);
      bytes += pending.bytes + 1;
      if (pending.id !== undefined) ids.add(pending.id);
    }
    this.queue = this.queue.slice(batch.length);
    this.queuedBytes -= bytes - 2;
    return batch;
  }

  private send(batch: Pending[], attempt: number): void {
    this.inFlight++;
    const request = ++this.requestCount;
    const body = `[${batch.map((pending) => pending.json).join(',')}]`;
    this.transport.post(body).then(
      (answer) => this.answered(batch, attempt, request, answer),
      (error: NoAnswer) => this.unanswered(batch, attempt, request, error),
    );
  }

  private answered(batch: Pending[], attempt: number, request: number, answer: Answer): void {
    this.inFlight--;
    const { status } = answer;
    if (status >= 200 && status < 300) {
      const ids = (jsonObject(answer.body)?.ids ?? []) as unknown[];
      batch.forEach((pending, index) => {
        const id = ids[index];
        pending.resolve(typeof id === 'string' ? id : (pending.id ?? ''));
      });
      this.flush();
      return;
    }
    const problem = jsonObject(answer.body);
    const code = codeOf(problem, status);
    const detail = typeof problem?.detail === 'string' ? problem.detail : `Herald answered ${status}`;
    const failure = (field?: string, outcomeUnknown = false): PublishError =>
      new PublishError(detail, { status, code, field, problem, outcomeUnknown });

    if (status === 400 || status === 409 || status === 413) {
      const rest = this.refuseOne(batch, status, problem, failure);
      if (rest !== undefined) {
        // The others were not stored (a refused batch is refused whole): sent again at once.
        if (rest.length > 0) this.send(rest, attempt);
        this.flush();
        return;
      }
    }
    if (status === 429 || status >= 500) {
      // A 5xx may come after the log stored the message (a timed-out write): the outcome is unknown.
      const unknown = status >= 500 ? { request, unsent: false } : undefined;
      this.retry(batch, attempt, failure(undefined, unknown !== undefined), unknown, answer.retryAfter);
      return;
    }
    for (const pending of batch) pending.reject(failure(undefined, pending.unknownIn !== undefined));
    this.flush();
  }

  /**
   * The messages to send again when Herald refused the batch for one of them (rejected, or resolved when
   * a `409` shows an earlier unanswered request stored it); undefined when no single message is named.
   */
  private refuseOne(
    batch: Pending[],
    status: number,
    problem: Record<string, unknown> | undefined,
    failure: (field?: string) => PublishError,
  ): Pending[] | undefined {
    if (status === 413) {
      if (batch.length === 1) return undefined;
      // Too large for the server's --body-limit: halves, each sent on its own.
      const half = Math.ceil(batch.length / 2);
      const back = batch.slice(half);
      this.queue.unshift(...back);
      for (const pending of back) this.queuedBytes += pending.bytes + 1;
      return batch.slice(0, half);
    }
    if (status === 400) {
      const match = BATCH_FIELD.exec(typeof problem?.field === 'string' ? problem.field : '');
      const index = match === null ? -1 : Number(match[1]);
      const refused = batch[index];
      if (refused === undefined) return undefined;
      refused.reject(failure(match?.[2] === '' ? undefined : match?.[2]));
      return batch.filter((pending) => pending !== refused);
    }
    // 409: Herald names the id in its detail.
    const detail = typeof problem?.detail === 'string' ? problem.detail : '';
    const refused = batch.find((pending) => pending.id !== undefined && detail.includes(`"${pending.id}"`));
    if (refused === undefined) return undefined;
    if (refused.unknownIn === undefined) {
      refused.reject(failure('id'));
      return batch.filter((pending) => pending !== refused);
    }
    // Stored by the request that got no answer. Batches are appended atomically: when the id was drawn
    // here (no one else can have used it), every message of that request was stored with it.
    const stored = refused.drawnId
      ? batch.filter((pending) => pending.unknownIn === refused.unknownIn)
      : [refused];
    for (const pending of stored) pending.resolve(pending.id as string);
    return batch.filter((pending) => !stored.includes(pending));
  }

  private unanswered(batch: Pending[], attempt: number, request: number, error: NoAnswer): void {
    this.inFlight--;
    const code = error.timedOut ? 'timeout' : 'network';
    const failure = new PublishError(`no answer from Herald: ${error.message}`, {
      code,
      outcomeUnknown: true,
      cause: error,
    });
    this.retry(batch, attempt, failure, { request, unsent: error.unsent }, undefined);
  }

  /**
   * Sends the batch again after a backoff; gives up with `failure` when retries are spent or unsafe.
   * `unknown` names the request that may have stored the batch; `unsent` when it most likely did not
   * reach Herald (a kept-alive connection the server had closed: Node's `reusedSocket` and a reset).
   */
  private retry(
    batch: Pending[],
    attempt: number,
    failure: PublishError,
    unknown: { request: number; unsent: boolean } | undefined,
    retryAfterSeconds: number | undefined,
  ): void {
    if (unknown !== undefined) {
      for (const pending of batch) {
        // A message with an id is marked whatever the heuristic says: its 409 then resolves, safely.
        if (pending.id !== undefined || !unknown.unsent) pending.unknownIn ??= unknown.request;
      }
    }
    // Without an id a message whose outcome is unknown may already be stored: a retry could duplicate it.
    const unsafe = batch.some((pending) => pending.unknownIn !== undefined && pending.id === undefined);
    if (attempt >= this.options.retries || unsafe) {
      for (const pending of batch) {
        pending.reject(pending.unknownIn === undefined ? failure : withUnknownOutcome(failure));
      }
      this.flush();
      return;
    }
    const backoff = Math.min(1000, this.options.retryDelayMs * 2 ** attempt);
    const delay =
      retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : backoff * (0.5 + Math.random() / 2);
    // The slot stays taken while waiting: a failing Herald is not sent more meanwhile.
    this.inFlight++;
    setTimeout(() => {
      this.inFlight--;
      this.send(batch, attempt + 1);
    }, delay);
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.inFlight > 0) return;
    for (const waiter of this.idleWaiters.splice(0)) waiter();
  }
}

/** The same failure, saying the message may have been stored by an earlier request. */
function withUnknownOutcome(failure: PublishError): PublishError {
  const { status, code, field, problem } = failure;
  return new PublishError(failure.message, {
    status,
    code,
    field,
    problem: problem as Record<string, unknown> | undefined,
    outcomeUnknown: true,
    cause: failure.cause,
  });
}
