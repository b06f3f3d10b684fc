import { randomBytes } from 'node:crypto';
import type { DisconnectReason } from '../core/disconnect.js';
import type { Hub } from '../core/hub.js';
import type { Message } from '../core/message.js';
import type { Log } from '../core/ports.js';
import { type ConnectionInfo, type Encoder, type Sink, Subscription } from '../core/subscription.js';
import { isPlausibleLastEventId } from '../protocol/grammar.js';
import { groupsOf, type PolledMessage, type PollResponse } from '../protocol/wire.js';
import { ConnectionIds, resumePoint } from './connection-ids.js';

/** Options of the long-poll transport. */
export interface LongPollOptions {
  /** Longest wait for a message before answering with none, in milliseconds. */
  readonly waitMs: number;
  /** Most messages in one answer. */
  readonly batchSize: number;
  /**
   * How long a session outlives an answer with no next poll, beyond `waitMs`: it is dropped (and its user
   * goes offline) once `waitMs + graceMs` pass without a poll. Default 5 s.
   */
  readonly graceMs?: number;
}

/** Who polls, after authentication. */
export interface PollRequest {
  readonly userId: string;
  readonly groups: readonly string[];
  /** The client's resume point; absent on a first poll (answered at once with the hub's position). */
  readonly lastEventId: string | undefined;
  /** The `session` of the client's previous answer; absent, unknown or not this audience's starts one. */
  readonly session: string | undefined;
  readonly info: ConnectionInfo;
  /**
   * Called when the poll starts a new session, before it is registered: takes the session's connection
   * slot for its whole life (or throws, and no session starts); returns the slot's release, called once
   * when the session ends.
   */
  readonly admit?: () => () => void;
  /**
   * Called on every poll of a session with its subscription, to watch the presenting token's expiry;
   * returns the watch's cancel. The previous poll's watch is cancelled first: a session expires with the
   * token of its latest poll.
   */
  readonly watch?: ((sub: Subscription) => () => void) | undefined;
}

/** What a session's sink is written: nothing, only the signal that something arrived (answers read the log). */
const NOTHING = Buffer.alloc(0);
/** The encoder of every session's subscription: no bytes to encode, only a write to tell it. */
const ARRIVALS: Encoder = { message: () => NOTHING, gap: () => NOTHING };
// Bounds the pages read in one answer when history holds little for this audience.
const MAX_PAGES = 64;
const DEFAULT_GRACE_MS = 5000;

/** Why a poll stopped waiting, besides a message (which only makes it read again) and the session's end. */
type StopReason = 'timeout' | 'superseded';

/**
 * Long-polling on the hub, in **sessions**. A session is one logical connection of one user: one
 * subscription registered on the hub from its first poll until the server ends it or the client stops
 * polling for longer than the linger (`waitMs + graceMs`), so presence and the connection limits count it
 * once, as they count a stream. Each answer names the session; the client sends it back with its next
 * poll. Between polls the session's sink keeps nothing but the fact that something arrived: every answer
 * is read from the log after the client's `lastEventId`, so it holds the same messages in the same order
 * as an SSE replay would, and nothing is missed between two polls.
 *
 * A session the server ends (`Hub.end`: closed by server, token expiry, shutdown) answers the poll that
 * waits with `disconnect`; with none waiting, the next poll presenting it gets the `disconnect` and the
 * session is forgotten.
 */
export class LongPoll {
  private readonly ids: ConnectionIds;
  private readonly lingerMs: number;
  /** Every session, live or ended-but-not-yet-told, by id. */
  private readonly sessions = new Map<string, PollSession>();
  /** Sessions with no poll under way, in the order they became idle: the sweep stops at the first not due. */
  private readonly idle = new Map<string, PollSession>();
  /** One timer for every idle session, running only while there is one. */
  private sweeper: NodeJS.Timeout | null = null;
  private readonly sweepEveryMs: number;

  constructor(
    private readonly hub: Hub,
    private readonly log: Log,
    /** Prefix of connection ids, unique per process. */
    nodeId: string,
    private readonly options: LongPollOptions,
  ) {
    this.ids = new ConnectionIds(nodeId, 'p');
    this.lingerMs = options.waitMs + (options.graceMs ?? DEFAULT_GRACE_MS);
    this.sweepEveryMs = Math.min(1000, Math.max(20, Math.floor(this.lingerMs / 8)));
  }

  /** Sessions held now (live ones and ended ones whose client has not been told yet). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Polls under way now (reading or waiting). */
  get pollsUnderWay(): number {
    return this.sessions.size - this.idle.size;
  }

  /** Answers one poll; `closed` resolves if the client goes away first (the wait then ends at once). */
  async poll(request: PollRequest, closed: Promise<void>): Promise<PollResponse> {
    const asked = request.lastEventId;
    const known = request.session === undefined ? undefined : this.sessions.get(request.session);
    const session = known?.belongsTo(request) ? known : this.start(request);
    if (session.ended !== null) {
      // Ended by the server while no poll waited: this poll is told, and the session is gone.
      this.forget(session);
      const resumeAt = asked !== undefined && isPlausibleLastEventId(asked) ? asked : this.hub.lastPosition;
      return { messages: [], lastEventId: resumeAt, disconnect: disconnectOf(session.ended) };
    }
    // A newer poll of the session replaces one still under way (a client retrying through a proxy that
    // kept the old request open): the old one answers empty at once.
    session.wake?.('superseded');
    this.idle.delete(session.id);
    session.unwatch?.();
    session.unwatch = request.watch?.(session.sub);
    let stopped: StopReason | null = null;
    let resume: (() => void) | null = null;
    const wake = (reason?: StopReason): void => {
      if (reason !== undefined && stopped === null) stopped = reason;
      const waiting = resume;
      resume = null;
      waiting?.();
    };
    session.wake = wake;
    try {
      // A first poll answers at once with its starting point, as the SSE greeting's `connected` does.
      if (asked === undefined) return session.answer([], this.hub.lastPosition);
      const timer = setTimeout(() => wake('timeout'), this.options.waitMs);
      void closed.then(() => wake('timeout'));
      try {
        return await this.wait(
          session,
          asked,
          () => stopped !== null,
          (ready) => {
            resume = ready;
          },
        );
      } finally {
        clearTimeout(timer);
      }
    } finally {
      if (session.wake === wake) {
        session.wake = null;
        if (session.ended !== null) this.forget(session);
        else this.rest(session);
      }
    }
  }

  /** Ends every session's bookkeeping (shutdown, after the hub ended their subscriptions). */
  close(): void {
    for (const session of this.sessions.values()) {
      this.hub.detach(session.sub);
      session.finish();
    }
    this.sessions.clear();
    this.idle.clear();
    this.stopSweeper();
  }

  /** Reads after `asked`, waiting for the next message when there is none yet, until stopped. */
  private async wait(
    session: PollSession,
    asked: string,
    isStopped: () => boolean,
    park: (ready: () => void) => void,
  ): Promise<PollResponse> {
    const sub = session.sub;
    // From where the session's last answer ended, the messages read are ones the hub already counted as
    // delivered when it offered them to the session; from anywhere else they are a replay of history.
    const live = asked === session.cursor;
    const startedAt = this.hub.lastPosition;
    const restartedAt = this.hub.restartPosition;
    let cursor = resumePoint(asked);
    for (let reads = 0; ; reads++) {
      session.arrived = false;
      const page = await this.read(cursor, sub);
      if (typeof page === 'string') {
        this.hub.countGap();
        const reason = page === 'gap-expired' ? 'expired' : 'unknown-id';
        // After a restart of the log (seen by this very read, maybe), resume from the new log's start.
        const restart = this.hub.restartPosition;
        const resumeAt = restart === restartedAt || restart === null ? startedAt : restart;
        return session.answer([], resumeAt, { reason, lastEventId: asked });
      }
      if (page.messages.length > 0) {
        if (reads === 0 && !live) this.hub.countReplayed(page.messages.length);
        return session.answer(page.messages.map(polled), page.cursor);
      }
      // Nothing for this audience yet; `cursor` is past what was scanned.
      cursor = page.cursor;
      if (session.ended !== null || isStopped()) break;
      // Something arrived during the read: read again at once rather than wait for the next.
      if (session.arrived) continue;
      await new Promise<void>(park);
      if (session.ended !== null || isStopped()) break;
    }
    return session.answer([], cursor);
  }

  /** Opens a new session for `request`: takes its slot, then registers its subscription on the hub. */
  private start(request: PollRequest): PollSession {
    const release = request.admit?.();
    const connectionId = this.ids.next();
    const id = randomBytes(16).toString('base64url');
    const session = new PollSession(id, connectionId, request, release);
    this.sessions.set(id, session);
    // Without a Last-Event-ID `attach` registers synchronously; no greeting: answers are read from the log.
    void this.hub.attach(session.sub, undefined);
    return session;
  }

  /** The session has no poll under way: it lingers until its next poll, or is dropped after `lingerMs`. */
  private rest(session: PollSession): void {
    session.idleSince = Date.now();
    this.idle.set(session.id, session);
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), this.sweepEveryMs);
      this.sweeper.unref();
    }
  }

  private forget(session: PollSession): void {
    this.sessions.delete(session.id);
    this.idle.delete(session.id);
    if (this.idle.size === 0) this.stopSweeper();
  }

  /** Drops the sessions idle for longer than the linger: their clients stopped polling. */
  private sweep(): void {
    const due = Date.now() - this.lingerMs;
    for (const session of this.idle.values()) {
      if (session.idleSince > due) break;
      this.forget(session);
      if (session.ended === null) {
        this.hub.detach(session.sub);
        session.finish();
      }
    }
    if (this.idle.size === 0) this.stopSweeper();
  }

  private stopSweeper(): void {
    if (this.sweeper === null) return;
    clearInterval(this.sweeper);
    this.sweeper = null;
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
  const { groups, direct } = groupsOf(message.topics);
  return {
    id: message.id,
    ...(message.event === undefined ? {} : { event: message.event }),
    data: message.data,
    ...(message.json === true ? { json: true as const } : {}),
    ...(groups.length === 0 ? {} : { groups, ...(direct ? { direct: true as const } : {}) }),
    ...(message.expiresAt === undefined ? {} : { inbox: true as const }),
  };
}

function disconnectOf(reason: DisconnectReason): NonNullable<PollResponse['disconnect']> {
  return { reason: reason.code, reconnect: reason.reconnect };
}

const DRAINED = Promise.resolve();

/**
 * One long-poll session, and the sink of its subscription. Nothing is encoded or buffered: its encoder
 * (`ARRIVALS`) makes empty frames, and a write only marks that something arrived and wakes the poll under
 * way, if any, which then reads the log.
 */
class PollSession implements Sink {
  readonly bufferedBytes = 0;
  /** The session's subscription on the hub, whose sink the session is. */
  readonly sub: Subscription;
  /** Something was delivered since the poll under way last read the log. */
  arrived = false;
  /** Why the server ended the session; set once. */
  ended: DisconnectReason | null = null;
  /** Wakes the poll under way (no reason: a message arrived); null between polls. */
  wake: ((reason?: StopReason) => void) | null = null;
  /** When the last poll ended, in ms since the epoch. */
  idleSince = 0;
  /** The `lastEventId` of the last answer: a poll from there reads live messages, not history. */
  cursor = '';
  /** Cancels the watch of the latest poll's token expiry. */
  unwatch: (() => void) | undefined;
  private finished = false;

  constructor(
    readonly id: string,
    connectionId: string,
    request: PollRequest,
    /** Frees the session's connection slot. */
    private readonly release: (() => void) | undefined,
  ) {
    this.sub = new Subscription(connectionId, request.userId, request.groups, this, ARRIVALS, request.info);
  }

  /** Whether `request` may go on in this session: the same user with the same groups. */
  belongsTo(request: PollRequest): boolean {
    const sub = this.sub;
    const asked = sub.requestedGroups;
    if (sub.userId !== request.userId || asked.length !== request.groups.length) return false;
    for (const group of request.groups) if (!asked.includes(group)) return false;
    return true;
  }

  /** An answer of this session: it names the session, or says it ended. */
  answer(messages: readonly PolledMessage[], lastEventId: string, gap?: PollResponse['gap']): PollResponse {
    this.cursor = lastEventId;
    const ended = this.ended;
    return {
      messages,
      lastEventId,
      ...(gap === undefined ? {} : { gap }),
      ...(ended === null ? { session: this.id } : { disconnect: disconnectOf(ended) }),
    };
  }

  /** Frees what the session holds (its slot, its expiry watch); once. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.unwatch?.();
    this.unwatch = undefined;
    this.release?.();
  }

  write(): void {
    this.arrived = true;
    this.wake?.();
  }

  drained(): Promise<void> {
    return DRAINED;
  }

  end(reason: DisconnectReason): void {
    if (this.ended !== null) return;
    this.ended = reason;
    this.finish();
    this.wake?.();
  }
}
