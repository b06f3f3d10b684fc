import { Disconnect, type DisconnectReason } from './disconnect.js';
import type { InboxStore } from './inbox.js';
import type { Message } from './message.js';
import type { Log, Replay } from './ports.js';
import { Router } from './router.js';
import type { Encoder, GapNotice, Greeting, Subscription } from './subscription.js';

/** Longest stretch of writing before the flush yields to the event loop. */
const FLUSH_SLICE_MS = 5;
/** Messages read from the log per replay page: what one resuming connection holds in memory at most. */
const REPLAY_PAGE_SIZE = 100;
/** Replay pages read at once across all connections; the others wait their turn (a reconnect storm). */
const MAX_REPLAY_READS = 32;
/** Replay output written at once before waiting for the connection to drain (capped by the bound). */
const REPLAY_SLICE_BYTES = 64 * 1024;

/** Options of the hub; see `config.ts` for the defaults and their reasons. */
export interface HubOptions {
  /** A connection whose unsent output passes this many bytes is closed (its client resumes losslessly). */
  readonly maxBufferedBytes: number;
}

/** Counters for metrics and the dashboard; monotonic since start. */
export interface HubCounters {
  /** Messages handed to `deliver` (from the log's tail): every message of the cluster, once. */
  routed: number;
  /** Messages sent to subscriptions live, counted once per recipient. */
  delivered: number;
  /** Messages sent from history (a resume, or a long poll reading behind its session), once per recipient. */
  replayed: number;
  /** `gap`s told to connections (by the hub, or counted by a transport with `countGap`). */
  gaps: number;
  /** Messages sent from a user's inbox to a connection that opened without a Last-Event-ID. */
  inboxed: number;
  slowConsumerCloses: number;
  /** Bytes of frames the hub wrote to sinks (counted once per coalesced write, not per frame). */
  bytesOut: number;
}

/** Told a user's number of connections on this node after each change (0: the user left this node). */
export type UserChangeListener = (userId: string, connections: number) => void;

/**
 * What the backend keeps per user that the hub reads when a connection opens: the user's server-side
 * groups (`core/groups.ts`) and its inbox (`core/inbox.ts`).
 */
export interface UserState {
  /** The user's server-side groups. */
  loadGroups(userId: string): Promise<readonly string[]>;
  /**
   * The same without I/O, when the store holds them in this process: the connection then registers at
   * once, as without server-side groups.
   */
  readonly knownGroups?: ((userId: string) => readonly string[]) | undefined;
  readonly inbox: Pick<InboxStore, 'waiting' | 'idle'>;
}

/** A load of a user's server-side groups under way, shared by the user's connections opening meanwhile. */
interface GroupsLoad {
  readonly promise: Promise<readonly string[]>;
  /** The groups a change announced during the load set: newer than what the load reads. */
  changed: readonly string[] | null;
}

const NO_CONNECTIONS: readonly Subscription[] = Object.freeze([]);

/**
 * The local registry of subscriptions and the router that delivers each logged message to them.
 * No HTTP, no storage and no wire format: messages come in through `deliver` (from the log's tail), are
 * turned into frames by each subscription's `Encoder` (its transport's) and go out through its `Sink`.
 * The index and the counters are the hub's own: others read them through the methods below.
 */
export class Hub {
  private readonly router = new Router();
  private readonly tally: HubCounters = {
    routed: 0,
    delivered: 0,
    replayed: 0,
    gaps: 0,
    inboxed: 0,
    slowConsumerCloses: 0,
    bytesOut: 0,
  };
  private position: string;
  private readonly compare: (a: string, b: string) => number;
  private readonly maxBufferedBytes: number;
  private readonly dirty: Subscription[] = [];
  /** Subscriptions whose held messages passed the bound during the current `deliver`: evicted after it. */
  private readonly overflowed: Subscription[] = [];
  /** Replay pages being read, and replays waiting for their turn to read one. */
  private replayReads = 0;
  private readonly replayQueue: (() => void)[] = [];
  private readonly replaySliceBytes: number;
  private restartedAt: string | null = null;
  private flushScheduled = false;
  /** Where an interrupted flush resumes in `dirty`. */
  private flushIndex = 0;
  private readonly userListeners = new Set<UserChangeListener>();
  private users: UserState | null = null;
  /** Loads of server-side groups under way, by user (a user's connections otherwise carry them). */
  private readonly groupLoads = new Map<string, GroupsLoad>();
  // The message being delivered; fields rather than a closure so per-recipient work allocates nothing.
  private mark = 0;
  private current: Message | null = null;
  /** The encoder of the last recipient and its frame of `current`: most deliveries meet one encoder. */
  private currentEncoder: Encoder | null = null;
  private currentFrame: Buffer | null = null;
  /** Once a delivery meets a second encoder: every encoder met, and its frame (each encodes once). */
  private readonly encoders: Encoder[] = [];
  private readonly frames: Buffer[] = [];
  private readonly offerBound = (sub: Subscription): void => this.offer(sub);
  private readonly flushBound = (): void => this.flush();
  /** Fans the router's report of a user's change out to every `onUserChange` listener. */
  private readonly tellUserChange = (userId: string, connections: number): void => {
    for (const listener of this.userListeners) listener(userId, connections);
  };

  constructor(
    private readonly log: Log,
    /** The log's head when the hub starts: where fresh connections begin. */
    startPosition: string,
    options: HubOptions,
  ) {
    this.position = startPosition;
    this.compare = (a, b) => log.comparePositions(a, b);
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.replaySliceBytes = Math.min(options.maxBufferedBytes, REPLAY_SLICE_BYTES);
  }

  /** Position of the last message delivered: a fresh connection resumes from here. */
  get lastPosition(): string {
    return this.position;
  }

  /** Number of open subscriptions. */
  get connectionCount(): number {
    return this.router.all.size;
  }

  /** Number of distinct users with at least one open subscription. */
  get userCount(): number {
    return this.router.byUser.size;
  }

  /** Number of distinct groups with at least one open subscription. */
  get groupCount(): number {
    return this.router.byGroup.size;
  }

  /** The counters, read-only and live (metrics read them at scrape time). */
  get counters(): Readonly<HubCounters> {
    return this.tally;
  }

  /** Number of open subscriptions of `userId`. */
  connectionCountOf(userId: string): number {
    return this.router.byUser.get(userId)?.length ?? 0;
  }

  /** The open subscriptions of `userId`, oldest first (a copy: ending them while iterating is safe). */
  connectionsOf(userId: string): Subscription[] {
    return [...(this.router.byUser.get(userId) ?? NO_CONNECTIONS)];
  }

  /** Number of open subscriptions in `group`. */
  connectionsInGroup(group: string): number {
    return this.router.byGroup.get(group)?.size ?? 0;
  }

  /**
   * Every user with an open subscription whose id starts with `prefix` (all of them when it is empty),
   * with its number of subscriptions; in no particular order. Open or close no connection meanwhile.
   */
  *onlineUsers(prefix = ''): Generator<[userId: string, connections: number]> {
    for (const [userId, subs] of this.router.byUser) {
      if (userId.startsWith(prefix)) yield [userId, subs.length];
    }
  }

  /**
   * Calls `listener` with a user's number of connections after each change (a connection opened or
   * closed); returns the function that stops it. Any number of listeners.
   */
  onUserChange(listener: UserChangeListener): () => void {
    this.userListeners.add(listener);
    this.router.onUserChange = this.tellUserChange;
    return () => {
      this.userListeners.delete(listener);
      if (this.userListeners.size === 0) this.router.onUserChange = null;
    };
  }

  /**
   * Serves per-user state kept by the backend: every connection then also receives its user's server-side
   * groups, and one that opens without a Last-Event-ID first gets its user's inbox. Call once, before
   * connections open.
   */
  serveUsers(state: UserState): void {
    this.users = state;
  }

  /**
   * The user's server-side groups are now `groups` (the backend's announcement of a change, on every node
   * in log order): the user's live connections here join and leave at once and are told.
   */
  setServerGroups(userId: string, groups: readonly string[]): void {
    const load = this.groupLoads.get(userId);
    if (load !== undefined) load.changed = groups;
    // Without a connection of the user here there is nothing to keep: a later one loads them afresh.
    for (const sub of this.router.byUser.get(userId) ?? NO_CONNECTIONS) this.regroup(sub, groups);
  }

  /** Tells the user's live connections here how many inbox messages wait (after an acknowledgement). */
  tellUnread(userId: string, unread: number): void {
    for (const sub of this.router.byUser.get(userId) ?? NO_CONNECTIONS) {
      const frame = sub.encoder.inbox?.({ unread });
      if (frame !== undefined) this.enqueue(sub, frame);
    }
  }

  /** A transport told a connection of a gap itself (a long poll answered with one). */
  countGap(): void {
    this.tally.gaps++;
  }

  /** A transport sent `count` messages from history itself (a long poll reading behind its session). */
  countReplayed(count: number): void {
    this.tally.replayed += count;
  }

  /**
   * The log lost its history and starts again at `start` (a new epoch): fresh connections, polls and
   * `gap` events resume from there, not from a position the log no longer knows (which would answer
   * every resume with another `gap` until the next message arrived).
   */
  restartAt(start: string): void {
    const before = this.position;
    this.position = start;
    this.restartedAt = start;
    // Live connections may have missed what this node had not yet read of the lost log: tell them, once.
    // (Those still replaying find out from their next page.)
    const notice: GapNotice = { id: start, reason: 'unknown-id', lastEventId: before };
    const frames = new Map<Encoder, Buffer>();
    for (const sub of this.router.all) {
      if (sub.held !== null) continue;
      this.tally.gaps++;
      let frame = frames.get(sub.encoder);
      if (frame === undefined) {
        frame = sub.encoder.gap(notice);
        frames.set(sub.encoder, frame);
      }
      this.enqueue(sub, frame);
    }
  }

  /**
   * The start of the log since it last restarted (`restartAt`), or null. A resume point taken before it
   * changed is unknown to the log now; this one is the first position of the new log.
   */
  get restartPosition(): string | null {
    return this.restartedAt;
  }

  /** Hands one logged message to every matching local subscription. Called by the log's tail, in order. */
  deliver(message: Message): void {
    this.position = message.pos;
    this.tally.routed++;
    this.current = message;
    this.mark++;
    for (const topic of message.topics) this.router.visit(topic, this.offerBound);
    this.current = null;
    if (this.currentEncoder !== null) {
      this.currentEncoder = null;
      this.currentFrame = null;
      if (this.encoders.length > 0) {
        this.encoders.length = 0;
        this.frames.length = 0;
      }
    }
    if (this.overflowed.length > 0) {
      for (const sub of this.overflowed) this.evictSlow(sub);
      this.overflowed.length = 0;
    }
  }

  /**
   * Registers a subscription and starts its stream with the transport's `greeting` (if any). Without
   * `lastEventId` it goes live at once; with one, it is registered first and live messages are held while
   * history replays, then the held ones not already replayed follow: no gap, no duplicate. An unknown or
   * expired id yields a `gap` instead.
   */
  async attach(sub: Subscription, lastEventId: string | undefined, greeting?: Greeting): Promise<void> {
    const users = this.users;
    if (users !== null) {
      const known = this.knownServerGroups(sub.userId, users);
      if (known !== undefined) this.setGroups(sub, known);
      else if (lastEventId === undefined && sub.encoder.inbox === undefined) {
        // Registered at once (a long-poll session relies on it): its server-side groups join once loaded.
        this.loadServerGroups(sub.userId, users).then(
          (groups) => {
            if (!sub.closed) this.regroup(sub, groups);
          },
          () => {},
        );
      } else {
        // Loaded before registering: no message is routed to it with only part of its groups.
        try {
          this.setGroups(sub, await this.loadServerGroups(sub.userId, users));
        } catch (error) {
          this.end(sub, Disconnect.logUnavailable);
          throw error;
        }
        if (sub.closed) return;
      }
    }
    this.router.add(sub);
    if (lastEventId === undefined) {
      // An inbox the store knows to be empty (no I/O) goes live at once, as without inboxes.
      if (users !== null && sub.encoder.inbox !== undefined && users.inbox.idle?.(sub) !== true)
        return this.attachWithInbox(sub, greeting);
      if (greeting !== undefined) this.enqueue(sub, greeting(this.position));
      this.tellGroups(sub);
      return;
    }
    sub.held = [];
    const registeredAt = this.position;
    const restartedAt = this.restartedAt;
    if (greeting !== undefined) this.enqueue(sub, greeting(lastEventId));
    this.tellGroups(sub);
    let covered: string;
    try {
      covered = await this.replay(sub, lastEventId, registeredAt, restartedAt);
    } catch (error) {
      this.end(sub, Disconnect.logUnavailable);
      throw error;
    }
    if (sub.closed) return;
    const held = sub.held ?? [];
    sub.held = null;
    sub.heldBytes = 0;
    // Held messages up to `covered` were in the replay (or, when the client came from a node that is
    // ahead of this one, before its Last-Event-ID): only later ones are new to it.
    for (const message of held) {
      if (this.compare(message.pos, covered) > 0) this.enqueue(sub, sub.encoder.message(message));
    }
    // A shared log can be read ahead of this node's tail: skip those messages when they arrive live.
    if (this.compare(covered, this.position) > 0) sub.skipThrough = covered;
  }

  /** Removes a subscription (its connection closed). Idempotent. */
  detach(sub: Subscription): void {
    sub.closed = true;
    sub.held = null;
    sub.pending = [];
    sub.pendingBytes = 0;
    this.router.remove(sub);
  }

  /** Ends every connection of a user; returns how many were open. */
  disconnectUser(userId: string, reason: DisconnectReason = Disconnect.closedByServer): number {
    const subs = this.router.byUser.get(userId);
    if (subs === undefined) return 0;
    const count = subs.length;
    for (const sub of [...subs]) this.end(sub, reason);
    return count;
  }

  /** Ends every connection (shutdown). */
  disconnectAll(reason: DisconnectReason): void {
    for (const sub of [...this.router.all]) this.end(sub, reason);
  }

  /** Ends one connection with a reason: flushes what is pending (unless it is a slow consumer) first. */
  end(sub: Subscription, reason: DisconnectReason): void {
    if (sub.closed) return;
    if (reason.notify && sub.pending.length > 0) this.write(sub);
    this.detach(sub);
    sub.sink.end(reason);
  }

  /**
   * A connection without Last-Event-ID, with an inbox: it is registered (live messages are held), its
   * user's inbox is read and the messages up to the registration position are sent in log order, then an
   * `inbox` frame whose id is the registration position, then the held messages (all after it) and live.
   * Inbox messages after the registration position are left to live delivery, which brings them in order:
   * a message is never sent twice, nor out of log order. The greeting waits for the first inbox page, so a
   * connection that fails before it has no position and its client comes back without one (inbox again).
   */
  private async attachWithInbox(sub: Subscription, greeting: Greeting | undefined): Promise<void> {
    sub.held = [];
    const registeredAt = this.position;
    try {
      await this.sendInbox(sub, registeredAt, greeting);
    } catch (error) {
      this.end(sub, Disconnect.logUnavailable);
      throw error;
    }
    if (sub.closed) return;
    const held = sub.held ?? [];
    sub.held = null;
    sub.heldBytes = 0;
    for (const message of held) this.enqueue(sub, sub.encoder.message(message));
  }

  private async sendInbox(
    sub: Subscription,
    registeredAt: string,
    greeting: Greeting | undefined,
  ): Promise<void> {
    const inbox = (this.users as UserState).inbox;
    const encoder = sub.encoder;
    let after: string | undefined;
    let unread = 0;
    for (let first = true; ; first = false) {
      const page = await inbox.waiting(sub, { after, limit: REPLAY_PAGE_SIZE });
      if (sub.closed) return;
      if (first) {
        unread = page.unread;
        if (greeting !== undefined) this.enqueue(sub, greeting(registeredAt));
        this.tellGroups(sub);
      }
      let reachedLive = false;
      for (const message of page.messages) {
        if (this.compare(message.pos, registeredAt) > 0) {
          reachedLive = true;
          break;
        }
        this.enqueue(sub, encoder.message(message));
        this.tally.inboxed++;
        if (sub.pendingBytes >= this.replaySliceBytes && !(await this.writeAndDrain(sub))) return;
      }
      if (reachedLive || page.next === undefined) break;
      after = page.next;
      if (!(await this.writeAndDrain(sub))) return;
    }
    if (unread > 0 && encoder.inbox !== undefined)
      this.enqueue(sub, encoder.inbox({ unread, id: registeredAt }));
  }

  /**
   * The user's server-side groups when known without waiting: carried by its connections here, or held
   * by the store in this process. Undefined while a load is under way, or when the store must be asked.
   */
  private knownServerGroups(userId: string, users: UserState): readonly string[] | undefined {
    if (this.groupLoads.has(userId)) return undefined;
    const other = this.router.byUser.get(userId)?.[0];
    if (other !== undefined) return other.serverGroups;
    return users.knownGroups?.(userId);
  }

  /** Loads the user's server-side groups once for all its connections opening meanwhile. */
  private loadServerGroups(userId: string, users: UserState): Promise<readonly string[]> {
    const running = this.groupLoads.get(userId);
    if (running !== undefined) return running.promise;
    const load: GroupsLoad = {
      promise: users.loadGroups(userId).then(
        (groups) => {
          this.groupLoads.delete(userId);
          return load.changed ?? groups;
        },
        (error: unknown) => {
          this.groupLoads.delete(userId);
          throw error;
        },
      ),
      changed: null,
    };
    this.groupLoads.set(userId, load);
    return load.promise;
  }

  /** Sets the groups of a subscription not yet registered. */
  private setGroups(sub: Subscription, serverGroups: readonly string[]): void {
    sub.serverGroups = serverGroups;
    sub.groups = withGroups(sub.requestedGroups, serverGroups);
  }

  /** Gives `sub` its requested groups plus `serverGroups`, and tells it when that changes them. */
  private regroup(sub: Subscription, serverGroups: readonly string[]): void {
    sub.serverGroups = serverGroups;
    const groups = withGroups(sub.requestedGroups, serverGroups);
    if (sameGroups(groups, sub.groups)) return;
    this.router.regroup(sub, groups);
    const frame = sub.encoder.groups?.(groups);
    if (frame !== undefined) this.enqueue(sub, frame);
  }

  /** After the greeting: tells a connection its groups when its user has server-side ones. */
  private tellGroups(sub: Subscription): void {
    if (sub.serverGroups.length === 0) return;
    const frame = sub.encoder.groups?.(sub.groups);
    if (frame !== undefined) this.enqueue(sub, frame);
  }

  /**
   * Replays history after `lastEventId` page by page, pacing on the sink; returns the position the stream
   * now continues after: how far the replay covered the log, or after a `gap` the registration position.
   */
  private async replay(
    sub: Subscription,
    lastEventId: string,
    registeredAt: string,
    restartedAt: string | null,
  ): Promise<string> {
    let after = lastEventId;
    let covered: string | undefined;
    for (;;) {
      const page = await this.readPage(after, sub);
      if (sub.closed) return registeredAt;
      if (page.kind === 'gap') {
        // History ran out mid-replay only after registration: the held messages carry on without a loss.
        if (covered !== undefined && this.compare(covered, registeredAt) >= 0) return covered;
        this.tally.gaps++;
        // The log restarted meanwhile: the registration position is unknown to it now, so the client
        // resumes from the new log's start (told once, not again at its next reconnect).
        const resumeAt = this.restartedAt === restartedAt ? registeredAt : (this.restartedAt as string);
        this.enqueue(sub, sub.encoder.gap({ id: resumeAt, reason: page.reason, lastEventId }));
        return resumeAt;
      }
      const encoder = sub.encoder;
      const filter = sub.filter;
      for (const message of page.messages) {
        if (filter !== null && !filter.accepts(message)) continue;
        this.enqueue(sub, encoder.message(message));
        this.tally.replayed++;
        // A page is written in slices no larger than the connection's bound, each after the last drained.
        if (sub.pendingBytes >= this.replaySliceBytes && !(await this.writeAndDrain(sub)))
          return registeredAt;
      }
      covered = page.through;
      if (page.next === undefined) return covered;
      after = page.next;
      if (!(await this.writeAndDrain(sub))) return registeredAt;
    }
  }

  /** One replay page; at most `MAX_REPLAY_READS` are read at once, so a reconnect storm reads in turns. */
  private async readPage(after: string, sub: Subscription): Promise<Replay> {
    if (this.replayReads >= MAX_REPLAY_READS) {
      await new Promise<void>((resolve) => this.replayQueue.push(resolve));
    } else this.replayReads++;
    try {
      return await this.log.readAfter(after, sub, REPLAY_PAGE_SIZE);
    } finally {
      // The permit passes straight to the next waiter, if any.
      const next = this.replayQueue.shift();
      if (next !== undefined) next();
      else this.replayReads--;
    }
  }

  /** Writes what is pending and waits for the connection to drain; false once it closed. */
  private async writeAndDrain(sub: Subscription): Promise<boolean> {
    this.write(sub);
    await sub.sink.drained();
    return !sub.closed;
  }

  private offer(sub: Subscription): void {
    if (sub.deliveryMark === this.mark) return;
    sub.deliveryMark = this.mark;
    const message = this.current as Message;
    if (sub.filter !== null && !sub.filter.accepts(message)) return;
    if (sub.held !== null) {
      sub.held.push(message);
      sub.heldBytes += message.data.length;
      // Not now: the router is iterating this message's recipients, and removing one would skip another.
      if (sub.heldBytes > this.maxBufferedBytes) this.overflowed.push(sub);
      return;
    }
    if (sub.skipThrough !== null) {
      if (this.compare(message.pos, sub.skipThrough) <= 0) return;
      sub.skipThrough = null;
    }
    const encoder = sub.encoder;
    const frame =
      encoder === this.currentEncoder ? (this.currentFrame as Buffer) : this.frameFor(encoder, message);
    this.tally.delivered++;
    this.enqueue(sub, frame);
  }

  /** The frame of the message being delivered for `encoder`: encoded on its first recipient, then reused. */
  private frameFor(encoder: Encoder, message: Message): Buffer {
    let frame: Buffer;
    if (this.currentEncoder === null) frame = encoder.message(message);
    else {
      // A second encoder in this delivery: from now on every encoder's frame is listed.
      if (this.encoders.length === 0) {
        this.encoders.push(this.currentEncoder);
        this.frames.push(this.currentFrame as Buffer);
      }
      const index = this.encoders.indexOf(encoder);
      if (index >= 0) frame = this.frames[index] as Buffer;
      else {
        frame = encoder.message(message);
        this.encoders.push(encoder);
        this.frames.push(frame);
      }
    }
    this.currentEncoder = encoder;
    this.currentFrame = frame;
    return frame;
  }

  private enqueue(sub: Subscription, frame: Buffer): void {
    if (sub.closed) return;
    // (A subscription of empty frames may be listed twice; the flush skips it once it has been written.)
    if (sub.pendingBytes === 0) this.dirty.push(sub);
    sub.pending.push(frame);
    sub.pendingBytes += frame.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /**
   * Writes each dirty subscription's pending frames in one write, in slices of at most `FLUSH_SLICE_MS`.
   * Between slices the event loop accepts new publishes; their frames join the pending lists of the
   * connections not yet written, so a node that falls behind sends several messages per write instead of
   * one write per message per connection. A connection still holding more than the bound from earlier
   * writes is closed instead: a burst larger than the bound is fine for a client that reads, and memory
   * stays below the bound plus what queued while it waited.
   */
  private flush(): void {
    const dirty = this.dirty;
    const deadline = performance.now() + FLUSH_SLICE_MS;
    let i = this.flushIndex;
    for (; i < dirty.length; i++) {
      const sub = dirty[i] as Subscription;
      // By count, not bytes: empty frames (a transport that only needs the signal) still get a write.
      if (sub.closed || sub.pending.length === 0) continue;
      if (sub.sink.bufferedBytes > this.maxBufferedBytes) this.evictSlow(sub);
      else this.write(sub);
      if ((i & 63) === 63 && performance.now() > deadline) {
        this.flushIndex = i + 1;
        setImmediate(this.flushBound);
        return;
      }
    }
    this.flushIndex = 0;
    dirty.length = 0;
    this.flushScheduled = false;
  }

  private write(sub: Subscription): void {
    const pending = sub.pending;
    const chunk = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, sub.pendingBytes);
    pending.length = 0;
    sub.pendingBytes = 0;
    this.tally.bytesOut += chunk.length;
    sub.sink.write(chunk);
  }

  private evictSlow(sub: Subscription): void {
    this.tally.slowConsumerCloses++;
    this.end(sub, Disconnect.slowConsumer);
  }
}

/** `requested` plus `server`, distinct; `requested` itself when the user has no server-side groups. */
function withGroups(requested: readonly string[], server: readonly string[]): readonly string[] {
  if (server.length === 0) return requested;
  return [...new Set([...requested, ...server])];
}

/** True when both hold the same groups. */
function sameGroups(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (const group of a) if (!b.includes(group)) return false;
  return true;
}
