import {
  named,
  type Refusal,
  Source,
  type SourceOptions,
  type State,
  streamKind,
  type Transport,
  type Wire,
} from './source.js';

export type { State, Transport };

/** One application message. `data` is parsed when the publisher sent JSON, else it is the text. */
export interface HeraldMessage<T = unknown> {
  /** The message id: what a reconnect resumes after. */
  readonly id: string;
  /** The event name; `message` when the publisher gave none. */
  readonly event: string;
  readonly data: T;
  /** The groups the message was addressed to (never other users: those stay the publisher's business). */
  readonly groups: readonly string[];
  /**
   * Also addressed to users, a user prefix or everyone, not only to groups; with no `groups`, that is how it
   * reached this user. On the `EventSource` fallback, which hides what a message was addressed to, `groups`
   * is empty and this true.
   */
  readonly direct: boolean;
  /** True when it waits in the user's inbox until acknowledged (published with a ttl); see `ack`. */
  readonly inbox: boolean;
}

/** The server could not replay what was missed: `unknown-id` (e.g. after a restart) or `expired`. */
export interface GapInfo {
  readonly reason: string;
  /** The id the client asked to resume after. */
  readonly lastEventId: string;
}

/** The server ended the stream; `reconnect: false` means the client stopped (state `closed`). */
export interface DisconnectInfo {
  readonly reason: string;
  readonly reconnect: boolean;
}

/** How many messages wait in the user's inbox (messages published with a ttl, not yet acknowledged). */
export interface InboxInfo {
  readonly unread: number;
}

/** The client's own events; every other name is an application event. */
export interface ClientEvents {
  state: State;
  gap: GapInfo;
  disconnect: DisconnectInfo;
  error: unknown;
  /** The unread count changed: on connect after the inbox was delivered, and after every acknowledgement. */
  inbox: InboxInfo;
  /** This tab's groups changed (the backend changed the user's server-side groups). */
  groups: readonly string[];
}

/** The handler type for `on(name)`: client events get their value, other names get messages (`*`: all). */
export type Listener<K extends string> = K extends keyof ClientEvents
  ? (value: ClientEvents[K]) => void
  : (message: HeraldMessage) => void;

/** Options of `connect`. */
export interface ConnectOptions {
  /** User id for development mode (`?user=`); with tokens the token names the user. */
  user?: string;
  /** Groups to receive; absent: whatever the server gives (with tokens, every group of the token). */
  groups?: readonly string[];
  /** A token sent as `Authorization: Bearer` (as `?token=` for the `EventSource` fallback). */
  token?: string;
  /** Returns a fresh token; called first (when `token` is absent), on a 401 and when the token expired. */
  getToken?: () => string | Promise<string>;
  /**
   * Share one connection among all tabs of the origin (Web Locks + BroadcastChannel). Default: true in
   * browsers that have both.
   */
  shared?: boolean;
  /**
   * Name of the shared connection and of the stored last id, to which the client adds who it is for (the
   * token's `sub`, else `user`): tabs share only with tabs of the same user. Default: from the URL.
   */
  channel?: string;
  /** `auto` (default): `fetch` streaming, `EventSource` where it is missing, long-poll when blocked. */
  transport?: 'auto' | 'fetch' | 'eventsource' | 'poll';
  /** Milliseconds a stream may stay silent at its start before the client long-polls. Default 10000. */
  streamTimeout?: number;
  /** Milliseconds of long-polling after which streaming is tried again. Default 60000. */
  retryStreamAfter?: number;
  /** Longest delay between reconnect attempts, in milliseconds. Default 30000. */
  maxRetryDelay?: number;
  /**
   * Acknowledge inbox messages (published with a ttl) once this tab's handlers for them ran, so the
   * user's other devices are not sent them again. Default true; false leaves it to `ack`.
   */
  autoAck?: boolean;
}

/** A connection to Herald (possibly shared with other tabs). */
export interface HeraldClient {
  /** `connecting`, `open` or `closed`; changes are reported as `state` events. */
  readonly state: State;
  /** How events reach the browser (the leader tab's transport when shared). */
  readonly transport: Transport | undefined;
  /** True in the tab that holds the shared connection (or when not shared). */
  readonly leader: boolean;
  /** The id the next reconnect resumes after; kept in sessionStorage across reloads. */
  readonly lastEventId: string | undefined;
  /**
   * This tab's groups: the ones it asked for plus the user's server-side groups (all of the connection's
   * when it asked for every group of its token); undefined until the server said or when it asked for none.
   */
  readonly groups: readonly string[] | undefined;
  /** How many inbox messages wait for the user, as the server last said; undefined until it did. */
  readonly unread: number | undefined;
  /** Acknowledges inbox messages by id (with `autoAck: false`, or for messages shown elsewhere). */
  ack(ids: readonly string[]): Promise<void>;
  /** Adds a handler; returns the client. */
  on<K extends string>(event: K, handler: Listener<K>): HeraldClient;
  /** Removes a handler added with `on`. */
  off<K extends string>(event: K, handler: Listener<K>): HeraldClient;
  /** Closes the connection (or leaves the shared one); another tab takes over if this one led. */
  close(): void;
}

/** A tab's groups; `null`: every group of its token (what Herald gives a token stream that names none). */
type Groups = readonly string[] | null;

/** A network event that moves the position: what a tab replays to a tab that catches up. */
type Positioned = Extract<Wire, { id: string }>;

/** Messages between tabs of one shared connection. */
type TabMessage =
  /** A tab arrives (opened or reloaded) with its last id, and applies nothing until its `welcome`. */
  | { t: 'join'; tab: string; groups: Groups; since: string | undefined }
  /** The leader brings one joining tab up to date. */
  | { t: 'welcome'; to: string; wires: Wire[] }
  /** A joined tab announces its groups again, to a new leader. */
  | { t: 'hello'; tab: string; groups: Groups }
  | { t: 'bye'; tab: string }
  /** Herald refused these tabs (`reason` says why): each of them stops. */
  | { t: 'refused'; tabs: string[]; reason: string }
  | { t: 'leader' }
  | { t: 'ev'; e: Wire };

// Ids of recent messages, to drop the ones a new leader replays that a tab already saw.
const SEEN_LIMIT = 1000;
// Events a tab keeps to replay to a tab that reloads: far more than arrive during a reload.
const HISTORY_LIMIT = 500;
// Most ids in one acknowledgement, and how long ids gather before it is sent.
const ACK_BATCH = 1000;
const ACK_DELAY_MS = 100;

/**
 * Connects to the Herald at `url` (its base URL, e.g. `https://push.example.com` or `/`).
 *
 * @example
 * const herald = connect('/', { groups: ['news'], getToken: () => fetch('/token').then((r) => r.text()) });
 * herald.on('message', (m) => console.log(m.data));
 */
export function connect(url: string, options: ConnectOptions = {}): HeraldClient {
  return new Client(url, options);
}

class Client implements HeraldClient {
  state: State = 'connecting';
  transport: Transport | undefined;
  leader = false;
  lastEventId: string | undefined;
  unread: number | undefined;
  /** The connection's groups as the server last told them. */
  private told: readonly string[] | undefined;
  /** Ids handled here, waiting to be acknowledged. */
  private readonly acks = new Set<string>();
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly handlers = new Map<string, Set<(value: never) => void>>();
  private readonly seen = new Set<string>();
  /** The last events this tab applied, in order, from its first position on (at most `HISTORY_LIMIT`). */
  private readonly history: Positioned[] = [];
  /** Whether this tab applies the leader's events: from its `welcome`, or from when it leads. */
  private welcomed = false;
  private readonly tab = Math.random().toString(36).slice(2);
  private readonly asked: Groups;
  private readonly tabs = new Map<string, Groups>();
  private readonly root: URL;
  /** The name of the shared connection and of the stored last id; undefined until known, or unshared. */
  private key: string | undefined;
  private token: string | undefined;
  private readonly lock = new AbortController();
  private source: Source | undefined;
  private channel: BroadcastChannel | undefined;
  private release: (() => void) | undefined;
  private closed = false;

  constructor(
    url: string,
    private readonly options: ConnectOptions,
  ) {
    this.root = new URL(url, globalThis.location?.href);
    if (!this.root.pathname.endsWith('/')) this.root.pathname += '/';
    this.token = options.token;
    // Without groups a token stream joins every group of the token; a development-mode stream joins none.
    const tokens = options.token !== undefined || options.getToken !== undefined;
    this.asked = options.groups ?? (tokens ? null : []);
    this.tabs.set(this.tab, this.asked);
    void this.start();
  }

  /** Learns who this client is for, then joins the tabs of the same user (or connects alone). */
  private async start(): Promise<void> {
    let identity: string | undefined;
    try {
      identity = await this.identity();
    } catch (error) {
      // No token yet: connect alone; the source asks getToken again with backoff.
      this.emit('error', error);
    }
    if (this.closed) return;
    this.key = identity === undefined ? undefined : this.keyFor(identity);
    const stored = this.key === undefined ? undefined : storage()?.getItem(this.key);
    if (stored) this.position({ k: 'pos', id: stored });
    const locks = globalThis.navigator?.locks;
    const shared =
      this.options.shared ??
      (typeof document !== 'undefined' && locks !== undefined && typeof BroadcastChannel === 'function');
    if (!shared || this.key === undefined || locks === undefined) {
      this.lead();
      return;
    }
    this.channel = new BroadcastChannel(this.key);
    this.channel.onmessage = (event: MessageEvent<TabMessage>) => this.receive(event.data);
    this.announce();
    // Whoever holds the lock leads; the browser releases it when the tab goes, and the next in line leads.
    locks
      .request(this.key, { signal: this.lock.signal }, () => {
        if (this.closed) return;
        this.lead();
        return new Promise<void>((resolve) => {
          this.release = resolve;
        });
      })
      .catch(() => {});
  }

  /**
   * The name tabs share a connection and a stored last id under: the channel, and who it is for. On
   * `EventSource`, which hides the annotation that says a message's groups, also the groups: tabs that
   * could not tell their messages apart never share.
   */
  private keyFor(identity: string): string {
    const key = `${this.options.channel ?? `herald:${this.root.href}`}|${identity}`;
    if (streamKind(this.options.transport) !== 'eventsource') return key;
    return `${key}|${this.asked === null ? '*' : [...new Set(this.asked)].sort().join(',')}`;
  }

  /**
   * Who this client is for: the token's subject (tabs of different users must never share a connection
   * or a stored position), else the development-mode `user`; undefined for a token that names nobody.
   */
  private async identity(): Promise<string | undefined> {
    if (this.token === undefined && this.options.getToken !== undefined)
      this.token = await this.options.getToken();
    if (this.token === undefined) return `user:${this.options.user ?? ''}`;
    const sub = subjectOf(this.token);
    return sub === undefined ? undefined : `sub:${sub}`;
  }

  on<K extends string>(event: K, handler: Listener<K>): HeraldClient {
    const set = this.handlers.get(event) ?? new Set();
    this.handlers.set(event, set);
    set.add(handler as (value: never) => void);
    if (event !== '*') named.add(event);
    return this;
  }

  off<K extends string>(event: K, handler: Listener<K>): HeraldClient {
    this.handlers.get(event)?.delete(handler as (value: never) => void);
    return this;
  }

  get groups(): readonly string[] | undefined {
    const told = this.told;
    if (told === undefined || this.asked === null) return told;
    return [...new Set([...this.asked, ...this.serverGroups()])];
  }

  /** The told groups no tab asked for: the user's server-side groups. */
  private serverGroups(): string[] {
    const asked = new Set<string>();
    for (const groups of this.tabs.values()) for (const group of groups ?? []) asked.add(group);
    return (this.told ?? []).filter((group) => !asked.has(group));
  }

  async ack(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += ACK_BATCH) {
      const batch = ids.slice(i, i + ACK_BATCH);
      if (this.source !== undefined) await this.source.ack(batch);
      else await this.postAck(batch);
    }
  }

  /** `POST /inbox/ack` from a tab without the network connection (it follows the leader's). */
  private async postAck(ids: readonly string[]): Promise<void> {
    const url = new URL('inbox/ack', this.root);
    if (this.options.user !== undefined) url.searchParams.set('user', this.options.user);
    for (const group of this.asked ?? []) url.searchParams.append('group', group);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    const response = await fetch(url.href, { method: 'POST', headers, body: JSON.stringify({ ids }) });
    await response.body?.cancel();
  }

  /** Queues an id for the next acknowledgement, sent shortly after (one request for a burst). */
  private queueAck(id: string): void {
    this.acks.add(id);
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      const ids = [...this.acks];
      this.acks.clear();
      this.ack(ids).catch((error: unknown) => this.emit('error', error));
    }, ACK_DELAY_MS);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.source?.close();
    this.post({ t: 'bye', tab: this.tab });
    this.release?.();
    this.lock.abort();
    this.channel?.close();
    this.setState('closed');
  }

  private emit(event: string, value: unknown): void {
    for (const handler of this.handlers.get(event) ?? []) {
      try {
        (handler as (value: unknown) => void)(value);
      } catch (error) {
        // One failing handler must not stop delivery to the others.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  private post(message: TabMessage): void {
    this.channel?.postMessage(message);
  }

  /** Tells the leader this tab's groups; until welcomed, also its last id, to be caught up from it. */
  private announce(): void {
    const { tab, asked: groups } = this;
    this.post(
      this.welcomed ? { t: 'hello', tab, groups } : { t: 'join', tab, groups, since: this.lastEventId },
    );
  }

  /** Opens the network connection: this tab relays it to the others. */
  private lead(): void {
    this.leader = true;
    this.welcomed = true;
    this.post({ t: 'leader' });
    const options: SourceOptions = { ...this.options, token: this.token };
    this.source = new Source(this.root, options, {
      lastId: () => this.lastEventId,
      params: () => {
        const params = new URLSearchParams();
        if (this.options.user !== undefined) params.set('user', this.options.user);
        for (const group of this.union() ?? []) params.append('group', group);
        return params;
      },
      emit: (wire) => {
        // A message seen already comes again when a resume overlaps what an earlier leader relayed.
        if (this.closed || (wire.k === 'msg' && this.seen.has(wire.id))) return;
        this.post({ t: 'ev', e: wire });
        this.apply(wire);
      },
      refused: (refusal) => this.refused(refusal),
      error: (error) => this.emit('error', error),
    });
  }

  /**
   * Herald refused the shared connection for good. When it names groups (a 403 for groups the token lacks),
   * only the tabs that asked for them stop and the connection goes on with the others' groups; otherwise
   * every tab stops. A refused leader lets go of the lock, so another tab leads.
   */
  private refused(refusal: Refusal): void {
    const asked = [...this.tabs].filter(([, groups]) => groups?.some((g) => refusal.groups.includes(g)));
    const stopping = asked.length > 0 ? asked.map(([tab]) => tab) : [...this.tabs.keys()];
    for (const tab of stopping) this.tabs.delete(tab);
    this.post({ t: 'refused', tabs: stopping, reason: refusal.message });
    if (stopping.includes(this.tab)) this.stop(refusal);
  }

  /** Stops this tab for a reason retrying cannot fix, and says why. */
  private stop(error: Error): void {
    this.emit('error', error);
    this.close();
  }

  /**
   * The groups of every tab: what the shared connection subscribes to. `null` (ask for none: every group
   * of the token) when a tab wants them all; each tab then keeps its own groups' messages.
   */
  private union(): string[] | null {
    const all = new Set<string>();
    for (const groups of this.tabs.values()) {
      if (groups === null) return null;
      for (const group of groups) all.add(group);
    }
    return [...all].sort();
  }

  private receive(message: TabMessage): void {
    if (message.t === 'join' || message.t === 'hello') {
      const before = JSON.stringify(this.union());
      this.tabs.set(message.tab, message.groups);
      if (!this.leader) return;
      let widened = JSON.stringify(this.union()) !== before;
      if (message.t === 'join') {
        if (this.lastEventId === undefined && message.since !== undefined) {
          // This leader has seen nothing yet: it resumes from the tab's position, so the tab misses nothing.
          this.position({ k: 'pos', id: message.since });
          widened = true;
        }
        this.post({ t: 'welcome', to: message.tab, wires: this.catchUp(message.since, widened) });
      }
      // Reconnect (from the last id: nothing is lost) when a tab needs more groups.
      if (widened) this.source?.restart();
    } else if (message.t === 'welcome') {
      if (message.to !== this.tab || this.welcomed) return;
      this.welcomed = true;
      for (const wire of message.wires) this.apply(wire);
    } else if (message.t === 'bye') {
      this.tabs.delete(message.tab);
    } else if (message.t === 'refused') {
      if (message.tabs.includes(this.tab)) this.stop(new Error(message.reason));
    } else if (message.t === 'leader') {
      this.announce();
    } else if (this.welcomed) {
      this.apply(message.e);
    }
  }

  /**
   * What a joining tab needs, whose last id is `since` (kept across its reload): the events relayed after
   * it, or a gap when they are no longer kept or did not carry the tab's groups (`widened`).
   */
  private catchUp(since: string | undefined, widened: boolean): Wire[] {
    const here = this.lastEventId;
    const wires: Wire[] = [{ k: 'state', state: this.state, transport: this.transport }];
    if (here === undefined) return wires;
    if (since === undefined || since === here) return [...wires, { k: 'pos', id: here }];
    const from = this.history.findIndex((wire) => wire.id === since);
    if (from >= 0 && !widened) return [...wires, ...this.history.slice(from + 1)];
    return [...wires, { k: 'gap', reason: 'expired', lastEventId: since, id: here }];
  }

  private setState(state: State): void {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state);
  }

  /** Moves to the event's position, stores it for a reload, and keeps the event to replay to other tabs. */
  private position(wire: Positioned): void {
    this.lastEventId = wire.id;
    if (this.key !== undefined) storage()?.setItem(this.key, wire.id);
    this.history.push(wire);
    if (this.history.length > HISTORY_LIMIT) this.history.shift();
  }

  private apply(wire: Wire): void {
    if (this.closed) return;
    if (wire.k === 'state') {
      this.transport = wire.transport;
      this.setState(wire.state);
      // The shared connection ended for good: every tab ends, and the leader frees the lock for new tabs.
      if (wire.state === 'closed') this.close();
    } else if (wire.k === 'pos') {
      this.position(wire);
    } else if (wire.k === 'gap') {
      this.position(wire);
      this.emit('gap', { reason: wire.reason, lastEventId: wire.lastEventId });
    } else if (wire.k === 'disconnect') {
      this.emit('disconnect', { reason: wire.reason, reconnect: wire.reconnect });
    } else if (wire.k === 'inbox') {
      this.unread = wire.unread;
      this.emit('inbox', { unread: wire.unread });
    } else if (wire.k === 'groups') {
      this.told = wire.groups;
      this.emit('groups', this.groups ?? []);
    } else if (!this.seen.has(wire.id)) {
      this.seen.add(wire.id);
      if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as string);
      this.position(wire);
      // The shared stream carries every tab's groups: keep what this tab asked for, and server-side groups.
      const mine = this.asked;
      if (mine !== null && !wire.direct && !wire.groups.some((group) => mine.includes(group))) {
        const server = this.serverGroups();
        if (!wire.groups.some((group) => server.includes(group))) return;
      }
      let data: unknown = wire.data;
      if (wire.json) {
        try {
          data = JSON.parse(wire.data);
        } catch (error) {
          this.emit('error', error);
        }
      }
      const message: HeraldMessage = {
        id: wire.id,
        event: wire.event,
        data,
        groups: wire.groups,
        direct: wire.direct,
        inbox: wire.inbox,
      };
      this.emit(wire.event, message);
      this.emit('*', message);
      // Handled here: acknowledged for every device of the user (unless the page acknowledges itself).
      if (wire.inbox && this.options.autoAck !== false) this.queueAck(wire.id);
    }
  }
}

/** The `sub` claim of a JWT, read without verifying it (Herald does that): it only names the shared channel. */
function subjectOf(token: string): string | undefined {
  try {
    const payload = (token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
    const sub: unknown = JSON.parse(atob(payload)).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

function storage(): Storage | undefined {
  try {
    return typeof sessionStorage === 'undefined' ? undefined : sessionStorage;
  } catch {
    // Storage can be blocked (privacy settings, sandboxed frames): keep the id in memory only.
    return undefined;
  }
}
