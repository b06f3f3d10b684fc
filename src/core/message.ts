/** A message as the log stores it and the hub delivers it. */
export interface Message {
  /** The SSE `id:` clients see and resume from: the publisher's id, or else `pos`. */
  readonly id: string;
  /** The log position: assigned by the log, totally ordered within it (compare with `Log.comparePositions`). */
  readonly pos: string;
  /** Routing keys (see `protocol/topics.ts`). */
  readonly topics: readonly string[];
  /** SSE event name; absent means the default `message`. */
  readonly event?: string | undefined;
  /** UTF-8 text; JSON payloads are encoded by the API before they get here. */
  readonly data: string;
  /** True when the publisher sent `data` as a JSON value: clients parse it (see `protocol/wire.ts`). */
  readonly json?: boolean | undefined;
  /** Milliseconds since the epoch at which the log accepted the message. */
  readonly ts: number;
  /**
   * Set when it was published with a `ttl`: until then (ms since the epoch) it waits in the inbox of each
   * user it is addressed to (see `core/inbox.ts`), and its frame says so, so clients acknowledge it.
   */
  readonly expiresAt?: number | undefined;
  /**
   * The message's SSE frame, cached by the SSE encoder (`transport/sse-encoder.ts`) on first use, so
   * live delivery, held messages and replays of a stored message share one `Buffer`. Core never reads it.
   */
  frame?: Buffer;
}

/** What a publisher hands to the log; the log fills in `pos`, `ts` and (when absent) `id`. */
export interface MessageDraft {
  readonly id?: string | undefined;
  readonly topics: readonly string[];
  readonly event?: string | undefined;
  readonly data: string;
  /** True when `data` is JSON text encoded by the API; logs store it with the message. */
  readonly json?: boolean | undefined;
  /** Milliseconds the message waits in its users' inboxes from when the log accepts it (`ttl`). */
  readonly ttlMs?: number | undefined;
}

/**
 * The message a log stores for `draft` at `pos`: the one place that copies a draft's fields, so a field
 * added to drafts reaches every backend.
 */
export function messageFromDraft(draft: MessageDraft, pos: string, ts: number): Message {
  return {
    id: draft.id ?? pos,
    pos,
    topics: draft.topics,
    event: draft.event,
    data: draft.data,
    json: draft.json,
    ts,
    expiresAt: draft.ttlMs === undefined ? undefined : ts + draft.ttlMs,
  };
}

/** A message's fields as a log stores them: what it reads back from its storage. */
export interface StoredMessage {
  readonly pos: string;
  /** The publisher-chosen id, when there was one (`null` or absent otherwise). */
  readonly publisherId?: string | null | undefined;
  readonly topics: readonly string[];
  readonly event?: string | null | undefined;
  readonly data: string;
  readonly json?: boolean | undefined;
  readonly ts: number;
  /** When it stops waiting in inboxes (published with a `ttl`); `null` or absent otherwise. */
  readonly expiresAt?: number | null | undefined;
}

/**
 * The message a log read back from its storage: the one place that turns stored fields into a `Message`
 * (the counterpart of `messageFromDraft`), so a field added to messages reaches every backend.
 */
export function messageOf(stored: StoredMessage): Message {
  return {
    id: stored.publisherId ?? stored.pos,
    pos: stored.pos,
    topics: stored.topics,
    event: stored.event ?? undefined,
    data: stored.data,
    json: stored.json === true ? true : undefined,
    ts: stored.ts,
    expiresAt: stored.expiresAt ?? undefined,
  };
}
