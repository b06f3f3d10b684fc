import { createParser } from 'eventsource-parser';
import { type Annotation, type PollResponse, parseAnnotation } from '../../src/protocol/wire.js';

/**
 * How events reach the browser over the network: a `fetch` stream, native `EventSource` or long-polling.
 * A tab that receives through another tab reports that tab's transport.
 */
export type Transport = 'fetch' | 'eventsource' | 'poll';

/** The connection's state: `connecting` (also while waiting to reconnect), `open`, or `closed` for good. */
export type State = 'connecting' | 'open' | 'closed';

/** One thing the network said, in a form that can cross a BroadcastChannel. */
export type Wire =
  | {
      k: 'msg';
      id: string;
      event: string;
      data: string;
      json: boolean;
      groups: string[];
      direct: boolean;
      /** It waits in the user's inbox until acknowledged (published with a ttl). */
      inbox: boolean;
    }
  | { k: 'inbox'; unread: number }
  | { k: 'groups'; groups: string[] }
  | { k: 'gap'; reason: string; lastEventId: string; id: string }
  | { k: 'disconnect'; reason: string; reconnect: boolean }
  | { k: 'pos'; id: string }
  | { k: 'state'; state: State; transport: Transport | undefined };

/** What the source needs from the client around it. */
export interface SourceHooks {
  /** The id to resume from. */
  lastId(): string | undefined;
  /** Query parameters of `/events` and `/poll`: `user`, `group`. */
  params(): URLSearchParams;
  emit(wire: Wire): void;
  /** Herald refused the connection for good; the source reconnects at once unless the client closed it. */
  refused(refusal: Refusal): void;
  error(error: unknown): void;
}

/** Options of the network side; see `ConnectOptions` for their meaning. */
export interface SourceOptions {
  token?: string | undefined;
  getToken?: (() => string | Promise<string>) | undefined;
  transport?: 'auto' | Transport | undefined;
  streamTimeout?: number | undefined;
  retryStreamAfter?: number | undefined;
  maxRetryDelay?: number | undefined;
}

/** A refusal that retrying cannot fix (400, 401 without `getToken`, 403, 404). */
export class Refusal extends Error {
  constructor(
    message: string,
    /** The groups Herald named as not allowed by the token (a 403 for groups), else none. */
    readonly groups: readonly string[],
  ) {
    super(message);
  }
}

const NO_ANNOTATION: Annotation = { json: false, groups: [], direct: true, inbox: false };

/** Herald's own events on a stream (not application messages). */
const CONTROL = ['connected', 'gap', 'disconnect', 'inbox', 'groups'];

/**
 * The one network connection: streams over `fetch` (else `EventSource`), falls back to long-polling when a
 * stream yields no bytes in time and probes streaming again later, reconnects with exponential backoff and
 * jitter from the server's `retry:` hint, and refreshes its token on a 401 or a `token-expired` disconnect.
 */
export class Source {
  transport: Transport | undefined;
  private closed = false;
  private abort: (() => void) | undefined;
  private retry = 1000;
  private attempt = 0;
  private token: string | undefined;
  private refresh = false;
  private polling = false;
  private pollingSince = 0;
  private wake: (() => void) | undefined;
  /** Skip the next backoff: switching transport or retrying with a fresh token is not a failure. */
  private immediate = false;
  private refused401 = false;

  constructor(
    private readonly root: URL,
    private readonly options: SourceOptions,
    private readonly hooks: SourceHooks,
  ) {
    this.token = options.token;
    const forced = options.transport ?? 'auto';
    this.polling = forced === 'poll';
    void this.run();
  }

  /** Reconnects now, from the last id (the query parameters changed). */
  restart(): void {
    this.attempt = 0;
    this.abort?.();
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.abort?.();
    this.wake?.();
  }

  private state(state: State): void {
    this.hooks.emit({ k: 'state', state, transport: this.transport });
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      this.state('connecting');
      try {
        if ((this.refresh || this.token === undefined) && this.options.getToken !== undefined) {
          this.token = await this.options.getToken();
          this.refresh = false;
        }
        if (this.polling) await this.poll();
        else if (streamKind(this.options.transport) === 'eventsource') await this.eventSource();
        else await this.stream();
      } catch (error) {
        if (error instanceof Refusal) {
          // The client drops the refused groups' tabs, or closes this source when that is every tab.
          this.immediate = true;
          this.hooks.refused(error);
        } else if (!this.closed) this.hooks.error(error);
      }
      if (this.closed) break;
      await this.backoff();
    }
    this.closed = true;
    this.state('closed');
  }

  /** Exponential backoff from the server's `retry:` hint, with jitter so clients do not return in step. */
  private async backoff(): Promise<void> {
    if (this.immediate) {
      this.immediate = false;
      return;
    }
    const cap = this.options.maxRetryDelay ?? 30_000;
    const delay = Math.min(cap, this.retry * 2 ** this.attempt++);
    await new Promise<void>((done) => {
      this.wake = done;
      setTimeout(done, delay / 2 + (Math.random() * delay) / 2);
    });
    this.wake = undefined;
  }

  private url(path: string, query: Record<string, string | undefined>): string {
    const url = new URL(path, this.root);
    const params = this.hooks.params();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, value);
    url.search = params.toString();
    return url.href;
  }

  private headers(accept: string): Record<string, string> {
    const headers: Record<string, string> = { accept };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    return headers;
  }

  /** Handles a refused request: refresh the token on 401, give up when retrying cannot help. */
  private async refused(response: Response): Promise<void> {
    const status = response.status;
    if (status === 401 && this.options.getToken !== undefined) {
      // A fresh token is worth trying at once, once; a second 401 in a row backs off.
      this.immediate = !this.refused401;
      this.refused401 = true;
      this.refresh = true;
      return;
    } else if (status === 400 || status === 401 || status === 403 || status === 404) {
      throw await refusalOf(response);
    }
    const after = Number(response.headers.get('retry-after'));
    if (after > 0) this.retry = Math.max(this.retry, after * 1000);
  }

  private connected(): void {
    this.attempt = 0;
    this.refused401 = false;
    this.state('open');
  }

  /** Acknowledges inbox messages (`POST /inbox/ack`) as this connection's user; resolves when answered. */
  async ack(ids: readonly string[]): Promise<void> {
    const headers = this.headers('application/json');
    headers['content-type'] = 'application/json';
    const response = await fetch(this.url('inbox/ack', {}), {
      method: 'POST',
      headers,
      body: JSON.stringify({ ids }),
      cache: 'no-store',
    });
    await response.body?.cancel();
    if (!response.ok && response.status !== 403)
      throw new Error(`Herald refused the acknowledgement: HTTP ${response.status}`);
  }

  /** Applies a control event; returns false when the server said not to reconnect. */
  private control(event: string, data: string, id: string | undefined): void {
    const body = JSON.parse(data) as Record<string, unknown>;
    if (event === 'inbox') {
      // After the inbox sent on connect, its id is where the stream resumes.
      if (id !== undefined) this.hooks.emit({ k: 'pos', id });
      this.hooks.emit({ k: 'inbox', unread: Number(body.unread) });
    } else if (event === 'groups') {
      this.hooks.emit({ k: 'groups', groups: Array.isArray(body.groups) ? body.groups.map(String) : [] });
    } else if (event === 'connected') {
      if (id !== undefined) this.hooks.emit({ k: 'pos', id });
      this.connected();
    } else if (event === 'gap') {
      this.hooks.emit({
        k: 'gap',
        reason: String(body.reason),
        lastEventId: String(body.lastEventId),
        id: id ?? '',
      });
    } else if (event === 'disconnect') {
      const reconnect = body.reconnect === true;
      this.hooks.emit({ k: 'disconnect', reason: String(body.reason), reconnect });
      if (body.reason === 'token-expired') this.refresh = true;
      if (!reconnect) this.closed = true;
      // The server asked for the reconnect: wait only its retry hint.
      this.attempt = 0;
    }
  }

  private message(id: string | undefined, event: string, data: string, note: Annotation): void {
    if (id === undefined) return;
    this.hooks.emit({
      k: 'msg',
      id,
      event,
      data,
      json: note.json,
      groups: [...note.groups],
      direct: note.direct,
      inbox: note.inbox,
    });
  }

  /** One SSE stream over `fetch`; resolves when it ends. Falls back to polling when no byte comes in time. */
  private async stream(): Promise<void> {
    this.transport = 'fetch';
    const controller = new AbortController();
    this.abort = () => controller.abort();
    let bytes = false;
    const timer = setTimeout(() => {
      if (bytes) return;
      // A proxy holds the stream back: long-poll instead, and try streaming again later.
      this.polling = true;
      this.pollingSince = Date.now();
      this.immediate = true;
      controller.abort();
    }, this.options.streamTimeout ?? 10_000);
    try {
      const lastId = this.hooks.lastId();
      const headers = this.headers('text/event-stream');
      if (lastId !== undefined) headers['last-event-id'] = lastId;
      const response = await fetch(this.url('events', {}), {
        headers,
        signal: controller.signal,
        cache: 'no-store',
      });
      if (!response.ok || response.body === null) return await this.refused(response);
      let note = NO_ANNOTATION;
      const parser = createParser({
        onRetry: (ms) => {
          this.retry = ms;
        },
        onComment: (comment) => {
          note = parseAnnotation(comment) ?? note;
        },
        onEvent: ({ id, event = 'message', data }) => {
          if (CONTROL.includes(event)) this.control(event, data, id);
          else this.message(id, event, data, note);
          note = NO_ANNOTATION;
        },
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        bytes = true;
        parser.feed(value);
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    } finally {
      clearTimeout(timer);
      this.abort = undefined;
    }
  }

  /** Native `EventSource`, for browsers without `fetch` streaming; the token goes in `?token=`. */
  private eventSource(): Promise<void> {
    this.transport = 'eventsource';
    return new Promise((done) => {
      const source = new EventSource(
        this.url('events', { lastEventId: this.hooks.lastId(), token: this.token }),
        { withCredentials: true },
      );
      const finish = (): void => {
        source.close();
        this.abort = undefined;
        done();
      };
      this.abort = finish;
      const on = (name: string, listener: (event: MessageEvent<string>) => void): void =>
        source.addEventListener(name, listener as EventListener);
      for (const name of CONTROL) {
        on(name, (event) => {
          this.control(name, event.data, event.lastEventId);
          if (name === 'disconnect') finish();
        });
      }
      // EventSource dispatches named events only to listeners of that name: the client passes the names.
      for (const name of ['message', ...named]) {
        on(name, (event) => this.message(event.lastEventId, name, event.data, NO_ANNOTATION));
      }
      source.onerror = () => {
        // Our backoff, not EventSource's fixed interval; a refused token cannot be told apart here.
        if (this.options.getToken !== undefined) this.refresh = true;
        finish();
      };
    });
  }

  /** One long-poll; after `retryStreamAfter` of polling, goes back to try streaming. */
  private async poll(): Promise<void> {
    this.transport = 'poll';
    const controller = new AbortController();
    this.abort = () => controller.abort();
    // The server's long-poll session: sent back so the polls count as one connection, online in between.
    let session: string | undefined;
    try {
      while (!this.closed) {
        const response = await fetch(this.url('poll', { lastEventId: this.hooks.lastId(), session }), {
          headers: this.headers('application/json'),
          signal: controller.signal,
          cache: 'no-store',
        });
        if (!response.ok) return await this.refused(response);
        const body = (await response.json()) as PollResponse;
        session = body.session;
        this.connected();
        if (body.gap !== undefined) {
          this.hooks.emit({ k: 'gap', ...body.gap, id: body.lastEventId });
        }
        for (const m of body.messages) {
          this.message(m.id, m.event ?? 'message', m.data, {
            json: m.json === true,
            groups: m.groups ?? [],
            direct: m.groups === undefined || m.direct === true,
            inbox: m.inbox === true,
          });
        }
        this.hooks.emit({ k: 'pos', id: body.lastEventId });
        if (body.disconnect !== undefined) {
          this.control('disconnect', JSON.stringify(body.disconnect), undefined);
          return;
        }
        const probe = this.options.retryStreamAfter ?? 60_000;
        if (this.options.transport !== 'poll' && Date.now() - this.pollingSince > probe) {
          this.polling = false;
          this.immediate = true;
          return;
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    } finally {
      this.abort = undefined;
    }
  }
}

/** How the client streams with the `transport` option: `fetch`, else native `EventSource` where it cannot. */
export function streamKind(transport: SourceOptions['transport']): 'fetch' | 'eventsource' {
  if (transport === 'fetch' || transport === 'eventsource') return transport;
  const streams = typeof ReadableStream === 'function' && typeof fetch === 'function';
  return streams || typeof EventSource !== 'function' ? 'fetch' : 'eventsource';
}

/** Reads Herald's problem body: its detail for the message, and the groups a 403 names. */
async function refusalOf(response: Response): Promise<Refusal> {
  const problem: { detail?: unknown; groups?: unknown } = (await response.json().catch(() => null)) ?? {};
  const groups = Array.isArray(problem.groups) ? problem.groups.map(String) : [];
  const detail = typeof problem.detail === 'string' ? `: ${problem.detail}` : '';
  return new Refusal(`Herald refused the connection: HTTP ${response.status}${detail}`, groups);
}

/** Event names the `EventSource` fallback listens for besides `message` (added by `HeraldClient.on`). */
export const named = new Set<string>();
