import http from 'node:http';
import { createParser } from 'eventsource-parser';
import { tokenFor } from '../helpers/auth.js';
import type { World, WorldNode } from './world.js';

/** The subscriber opened a connection without Last-Event-ID (a new device) and was greeted. */
export interface FreshStart {
  readonly kind: 'fresh';
  /** How many acknowledged messages the model had when the greeting arrived. */
  readonly at: number;
  /** The model's clock then (orders it against acknowledgements). */
  readonly seenAt: number;
  /** Tags whose publish was under way then: they may have been appended before it registered. */
  readonly during: readonly number[];
}

/** What one logical subscriber received, across all of its connections, in order. */
export type Received =
  | { readonly kind: 'message'; readonly tag: number; readonly id: string }
  | FreshStart
  | {
      readonly kind: 'gap';
      readonly reason: string;
      /** How many times the log had lost its history when the gap arrived (see `Model.losses`). */
      readonly lossesBefore: number;
    };

/** What a subscriber tells the model as it happens. */
export interface SubscriberObserver {
  /** The first `connected` (or first poll answer) of the subscriber: where its expectations start. */
  started(subscriber: Subscriber): void;
  /** A connection without Last-Event-ID after `freshStart` was greeted. */
  freshStarted(): Omit<FreshStart, 'kind'>;
  /** How many times the log lost its history so far. */
  readonly losses: readonly unknown[];
}

/** Tags are the numbers the model puts in front of each message's data. */
export const tagOf = (data: string): number => Number(data.slice(0, data.indexOf('|')));

/**
 * One logical subscriber: a person's tab that keeps reconnecting with its last id, by SSE or by
 * long-polling, to whichever node is up — like a browser's `EventSource`. The model takes it offline
 * (the tab closes) and online again, pauses its reading (a stalled reader) and makes its next token
 * short-lived (expiry).
 */
export class Subscriber {
  readonly received: Received[] = [];
  lastEventId: string | undefined;
  /** The model holds it online (reconnecting whenever a connection ends) or offline. */
  online = false;
  /** Why the server last ended a connection (`disconnect` event), if it said. */
  lastDisconnect = '';
  connections = 0;
  /** The next connection's token lives this long (token expiry), then normal tokens again. */
  nextTokenTtlMs: number | null = null;
  private paused = false;
  private lastError = '';
  /** The last few requests and what they got, for a failure's report. */
  private readonly trace: string[] = [];
  private greeted = false;
  /** The next greeting is of a connection without Last-Event-ID (`freshStart`). */
  private fresh = false;
  private current: { close(): void; response?: http.IncomingMessage } | null = null;
  private loop: Promise<void> | null = null;
  private started = false;
  private session: string | undefined;
  private waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly user: string,
    readonly groups: readonly string[],
    readonly transport: 'sse' | 'poll',
    private readonly world: World,
    private readonly observer: SubscriberObserver,
    private readonly random: () => number,
  ) {}

  toString(): string {
    const groups = this.groups.length === 0 ? '' : ` groups=${this.groups.join(',')}`;
    return `${this.name}(${this.transport} user=${this.user}${groups})`;
  }

  /** Connected now and greeted (its stream's `connected` event, or a poll answer, arrived). */
  get connected(): boolean {
    return this.current !== null && this.greeted;
  }

  /** Starts reconnecting, whenever a connection ends, until `goOffline`. */
  goOnline(): void {
    this.online = true;
    this.loop ??= this.run().finally(() => {
      this.loop = null;
    });
  }

  /** Closes the connection from the client side and stays away. */
  async goOffline(): Promise<void> {
    this.online = false;
    this.current?.close();
    await this.loop;
  }

  /** Ends the current connection from the client side; it reconnects at once (elsewhere, maybe). */
  dropConnection(): void {
    this.current?.close();
  }

  /**
   * Forgets its last id and reconnects without one: the user on a new device (it first gets the user's
   * inbox). What it received so far stays its record; a new segment begins.
   */
  freshStart(): void {
    this.lastEventId = undefined;
    this.session = undefined;
    this.fresh = true;
    this.current?.close();
  }

  /** The id of the last message it received for which `choose` holds. */
  lastMessage(choose: (tag: number) => boolean): { tag: number; id: string } | undefined {
    for (let i = this.received.length - 1; i >= 0; i--) {
      const item = this.received[i];
      if (item?.kind === 'message' && choose(item.tag)) return item;
    }
    return undefined;
  }

  /** A token of this subscriber, for its own requests (acknowledgements). */
  bearer(): Promise<string> {
    return tokenFor(this.user, { groups: [...this.groups], ttlMs: 3_600_000 });
  }

  pause(): void {
    this.paused = true;
    this.current?.response?.pause();
  }

  resume(): void {
    this.paused = false;
    this.current?.response?.resume();
  }

  /** Resolves once `predicate` holds on what was received; rejects after `timeoutMs`. */
  waitFor(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this} did not receive ${what} in ${timeoutMs} ms (${this.state()})`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** What a failure report says about the subscriber's connection. */
  state(): string {
    const last = this.received.slice(-3).map((r) => (r.kind === 'message' ? r.tag : r.kind));
    return `trace: ${this.trace.join(' ; ')} — online ${this.online}, connected ${this.connected}, ${this.connections} connections, last id ${this.lastEventId}, last disconnect ${this.lastDisconnect || 'none'}, last error ${this.lastError || 'none'}, received ${this.received.length} (… ${last.join(' ')})`;
  }

  private note(line: string): void {
    this.trace.push(line);
    if (this.trace.length > 40) this.trace.shift();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private async run(): Promise<void> {
    let backoff = 20;
    while (this.online) {
      const node = this.pickNode();
      const ok =
        node !== undefined && (await (this.transport === 'sse' ? this.stream(node) : this.poll(node)));
      if (!this.online) return;
      if (ok) backoff = 20;
      else {
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 400);
      }
    }
  }

  private pickNode(): WorldNode | undefined {
    const live = this.world.live;
    return live[Math.floor(this.random() * live.length)];
  }

  private async token(): Promise<string> {
    const ttlMs = this.nextTokenTtlMs ?? 3_600_000;
    this.nextTokenTtlMs = null;
    return tokenFor(this.user, { groups: [...this.groups], ttlMs });
  }

  /** Records one event of the stream or poll answer. */
  private record(event: string, id: string | undefined, data: string): void {
    if (event === 'connected') {
      this.greeted = true;
      if (id !== undefined) this.lastEventId = id;
      if (this.fresh && this.lastEventId !== undefined) {
        this.fresh = false;
        this.received.push({ kind: 'fresh', ...this.observer.freshStarted() });
      }
      this.markStarted();
      this.notify();
      return;
    }
    if (event === 'disconnect') {
      this.lastDisconnect = (JSON.parse(data) as { reason: string }).reason;
      return;
    }
    // After the inbox sent on connect, its id is where the stream resumes; `groups` moves nothing.
    if (event === 'inbox' || event === 'groups') {
      if (id !== undefined) this.lastEventId = id;
      return;
    }
    if (event === 'gap') {
      const reason = (JSON.parse(data) as { reason: string }).reason;
      this.received.push({ kind: 'gap', reason, lossesBefore: this.observer.losses.length });
    } else {
      this.received.push({ kind: 'message', tag: tagOf(data), id: id ?? '' });
    }
    if (id !== undefined) this.lastEventId = id;
    this.notify();
  }

  private markStarted(): void {
    if (this.started) return;
    this.started = true;
    this.observer.started(this);
  }

  /** One SSE connection; resolves when it ends (true if it opened). */
  private async stream(node: WorldNode): Promise<boolean> {
    const token = await this.token();
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization: `Bearer ${token}` };
    if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
    this.note(`${node.name} stream after ${this.lastEventId}`);
    return new Promise((resolve) => {
      const request = http.get(`${node.url}/events`, { headers, agent: false });
      let opened = false;
      this.greeted = false;
      const finish = (): void => {
        this.current = null;
        this.greeted = false;
        resolve(opened);
      };
      this.current = { close: () => request.destroy() };
      request.once('error', finish);
      request.once('response', (response) => {
        if (response.statusCode !== 200) {
          this.lastError = `status ${response.statusCode}`;
          response.resume();
          request.destroy();
          return;
        }
        opened = true;
        this.connections++;
        this.current = { close: () => request.destroy(), response };
        if (!this.online) request.destroy();
        const parser = createParser({
          onEvent: (message) => this.record(message.event ?? 'message', message.id, message.data),
        });
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => parser.feed(chunk));
        if (this.paused) response.pause();
        response.once('close', () => request.destroy());
      });
      request.once('close', finish);
    });
  }

  /** Long-polls one node until an answer fails or the node ends the session; true if any poll answered. */
  private async poll(node: WorldNode): Promise<boolean> {
    let answered = false;
    while (this.online) {
      const params = new URLSearchParams();
      if (this.lastEventId !== undefined) params.set('lastEventId', this.lastEventId);
      if (this.session !== undefined) params.set('session', this.session);
      const controller = new AbortController();
      this.current = { close: () => controller.abort() };
      let body: PollAnswer;
      try {
        const response = await fetch(`${node.url}/poll?${params}`, {
          headers: { authorization: `Bearer ${await this.token()}` },
          signal: controller.signal,
        });
        if (response.status !== 200) {
          await response.body?.cancel();
          break;
        }
        body = (await response.json()) as PollAnswer;
        this.note(
          `${node.name} poll after ${this.lastEventId}: ${JSON.stringify({ ...body, messages: body.messages.map((m) => tagOf(m.data)) })}`,
        );
      } catch {
        break;
      }
      if (!answered) this.connections++;
      answered = true;
      this.greeted = true;
      this.notify();
      this.session = body.session;
      if (this.lastEventId === undefined) this.record('connected', body.lastEventId, '');
      if (body.gap !== undefined) this.record('gap', undefined, JSON.stringify(body.gap));
      for (const message of body.messages) this.record(message.event ?? 'message', message.id, message.data);
      this.lastEventId = body.lastEventId;
      this.markStarted();
      if (body.disconnect !== undefined) {
        this.lastDisconnect = body.disconnect.reason;
        this.session = undefined;
        break;
      }
    }
    this.current = null;
    this.greeted = false;
    return answered;
  }
}

interface PollAnswer {
  messages: { id: string; event?: string; data: string }[];
  lastEventId: string;
  session?: string;
  gap?: { reason: string };
  disconnect?: { reason: string };
}
