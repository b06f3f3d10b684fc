import type { DisconnectReason } from '../core/disconnect.js';
import type { Hub } from '../core/hub.js';
import type { Message } from '../core/message.js';
import type { Log } from '../core/ports.js';
import { type ConnectionInfo, type Sink, Subscription } from '../core/subscription.js';
import { isPlausibleLastEventId } from '../protocol/grammar.js';
import type { PolledMessage, PollResponse } from '../protocol/wire.js';

/** Options of the long-poll transport. */
export interface LongPollOptions {
  /** Longest wait for a message before answering with none, in milliseconds. */
  readonly waitMs: number;
  /** Most messages in one answer. */
  readonly batchSize: number;
}

/** Who polls, after authentication. */
export interface PollRequest {
  readonly userId: string;
  readonly groups: readonly string[];
  /** The client's resume point; absent on a first poll (answered at once with the hub's position). */
  readonly lastEventId: string | undefined;
  readonly info: ConnectionInfo;
  /** Called once the waiting subscription is registered on the hub (to watch its token's expiry). */
  readonly onRegistered?: (sub: Subscription) => void;
}

// A poll's subscription has no greeting; the hub skips empty writes, so nothing wakes it but a message.
const NO_GREETING = Buffer.alloc(0);
// Same stand-in as the SSE opener: an id no log can have issued, answered with a gap.
const UNUSABLE_ID = '-';
// Bounds the pages read in one answer when history holds little for this audience.
const MAX_PAGES = 64;

/** Why a wait ended: a message arrived, the server ended the subscription, or the bound passed. */
type WakeReason = 'message' | 'timeout' | DisconnectReason;

/**
 * Long-polling on the hub: each poll is a subscription whose sink answers the HTTP request at the first
 * message delivered to it. It is registered before history is read, so nothing published between the
 * read and the wait is missed; the answer itself is read from the log, so it holds the same messages in
 * the same order as an SSE replay would.
 */
export class LongPoll {
  private nextConnection = 0;

  constructor(
    private readonly hub: Hub,
    private readonly log: Log,
    /** Prefix of connection ids, unique per process. */
    private readonly nodeId: string,
    private readonly options: LongPollOptions,
  ) {}

  /** Answers one poll; `closed` resolves if the client goes away first (the wait then ends at once). */
  async poll(request: PollRequest, closed: Promise<void>): Promise<PollResponse> {
    const asked = request.lastEventId;
    // A first poll answers at once with its starting point, as the SSE greeting's `connected` does.
    if (asked === undefined) return { messages: [], lastEventId: this.hub.lastPosition };
    let wake: (reason: WakeReason) => void = () => {};
    const woken = new Promise<WakeReason>((resolve) => {
      wake = resolve;
    });
    const connectionId = `${this.nodeId}.p${(++this.nextConnection).toString(36)}`;
    const sub = new Subscription(
      connectionId,
      request.userId,
      request.groups,
      new PollSink(wake),
      request.info,
    );
    let registeredAt = '';
    // Registered before history is read; without a Last-Event-ID `attach` runs synchronously up to here.
    void this.hub.attach(sub, undefined, (position) => {
      registeredAt = position;
      return NO_GREETING;
    });
    request.onRegistered?.(sub);
    const after = isPlausibleLastEventId(asked) ? asked : UNUSABLE_ID;
    const timer = setTimeout(() => wake('timeout'), this.options.waitMs);
    void closed.then(() => wake('timeout'));
    try {
      const page = await this.read(after, sub);
      if (typeof page === 'string') {
        this.hub.counters.gaps++;
        const reason = page === 'gap-expired' ? 'expired' : 'unknown-id';
        return { messages: [], lastEventId: registeredAt, gap: { reason, lastEventId: asked } };
      }
      if (page.messages.length > 0) {
        this.hub.counters.replayed += page.messages.length;
        return { messages: page.messages.map(polled), lastEventId: page.cursor };
      }
      // Nothing for this audience yet; `cursor` is past what was scanned.
      const cursor = page.cursor;
      const reason = await woken;
      if (reason === 'message') {
        const fresh = await this.read(cursor, sub);
        // The hub counted the live message as delivered when it woke this poll.
        if (typeof fresh !== 'string' && fresh.messages.length > 0) {
          return { messages: fresh.messages.map(polled), lastEventId: fresh.cursor };
        }
        return { messages: [], lastEventId: cursor };
      }
      if (reason === 'timeout') return { messages: [], lastEventId: cursor };
      return {
        messages: [],
        lastEventId: cursor,
        disconnect: { reason: reason.code, reconnect: reason.reconnect },
      };
    } finally {
      clearTimeout(timer);
      this.hub.detach(sub);
    }
  }

  /** Reads the next messages after `after` for `sub`, skipping pages that hold none for it. */
  private async read(
    after: string,
    sub: Subscription,
  ): Promise<{ messages: readonly Message[]; cursor: string } | 'gap-unknown-id' | 'gap-expired'> {
    let cursor = after;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const page = await this.log.readAfter(cursor, sub, this.options.batchSize);
      if (page.kind === 'gap') return page.reason === 'expired' ? 'gap-expired' : 'gap-unknown-id';
      const last = page.messages[page.messages.length - 1];
      // `next` is where the read stopped (at or past the last message); else the last message is the end.
      cursor = page.next ?? last?.id ?? cursor;
      if (page.messages.length > 0 || page.next === undefined) return { messages: page.messages, cursor };
    }
    return { messages: [], cursor };
  }
}

/** A message as the long-poll body carries it: the SSE frame's fields and its annotation. */
function polled(message: Message): PolledMessage {
  const groups: string[] = [];
  let direct = false;
  for (const topic of message.topics) {
    if (topic.startsWith('group:')) groups.push(topic.slice(6));
    else direct = true;
  }
  return {
    id: message.id,
    ...(message.event === undefined ? {} : { event: message.event }),
    data: message.data,
    ...(message.json === true ? { json: true as const } : {}),
    ...(groups.length === 0 ? {} : { groups, ...(direct ? { direct: true as const } : {}) }),
  };
}

/** The sink of a waiting poll: the first write or end wakes the request; nothing is buffered. */
class PollSink implements Sink {
  readonly bufferedBytes = 0;

  constructor(private readonly wake: (reason: WakeReason) => void) {}

  write(): void {
    this.wake('message');
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  end(reason: DisconnectReason): void {
    this.wake(reason);
  }
}
