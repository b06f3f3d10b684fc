import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PresenceEvent, PresenceFeed } from '../core/presence-events.js';
import { encodeComment, encodeEventText, encodeRetry } from '../protocol/sse-frame.js';
import { lastEventIdOf } from '../transport/streams.js';
import type { HttpDeps } from './deps.js';
import type { IdentityProvider } from './identity.js';

/** A presence stream whose client stops reading is dropped past this much unsent output. */
const MAX_BUFFER = 1 << 20;
/** Keep-alive comment interval of presence streams (one timer for all of them). */
const HEARTBEAT_MS = 15_000;
const RETRY_MS = 3000;

/** The SSE frame of one presence event: `online` or `offline`, data `{"user", "connections", "ts"}`. */
function eventText(event: PresenceEvent): string {
  const data = JSON.stringify({ user: event.user, connections: event.connections, ts: event.ts });
  return encodeEventText({ id: event.id, event: event.event, data });
}

/**
 * Open `GET /presence/events` streams, fed by the backend's presence feed: few (backends, not browsers),
 * so each is a plain hijacked response written to directly.
 */
class PresenceStreams {
  private readonly open = new Set<ServerResponse>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly feed: PresenceFeed) {}

  /** Starts a stream: from `lastEventId` when given (or a `gap` if it fell out of the window), then live. */
  async start(
    response: ServerResponse,
    headers: Record<string, string | number | readonly string[]>,
    lastEventId: string | undefined,
  ): Promise<void> {
    const feed = this.feed;
    // Registered first: events decided while the history is read are held, then sent if newer.
    let held: PresenceEvent[] | null = [];
    let last: string | undefined;
    const write = (event: PresenceEvent): void => {
      if (last !== undefined && feed.compare(event.id, last) <= 0) return;
      last = event.id;
      this.write(response, eventText(event));
    };
    const stop = feed.listen((event) => {
      if (held === null) write(event);
      else held.push(event);
    });
    response.once('close', () => {
      stop();
      this.open.delete(response);
      if (this.open.size === 0) this.stopHeartbeat();
    });
    response.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    this.open.add(response);
    this.startHeartbeat();
    let text = encodeRetry(RETRY_MS);
    try {
      if (lastEventId === undefined) {
        last = await feed.head();
        text += encodeEventText({ id: last, event: 'connected', data: '{}' });
        this.write(response, text);
      } else {
        const history = await feed.after(lastEventId);
        if (history.kind === 'gap') {
          last = await feed.head();
          const data = JSON.stringify({ reason: 'expired', lastEventId });
          this.write(response, text + encodeEventText({ id: last, event: 'gap', data }));
        } else {
          last = lastEventId;
          this.write(response, text);
          for (const event of history.events) write(event);
        }
      }
    } catch {
      response.destroy();
      return;
    }
    const waiting = held;
    held = null;
    for (const event of waiting) write(event);
  }

  /** Ends every stream telling it to reconnect (shutdown). */
  close(): void {
    const bye = encodeEventText({
      event: 'disconnect',
      data: JSON.stringify({ reason: 'shutdown', reconnect: true }),
    });
    for (const response of this.open) response.end(bye);
    this.open.clear();
    this.stopHeartbeat();
  }

  private write(response: ServerResponse, text: string): void {
    if (response.writableLength > MAX_BUFFER) response.destroy();
    else response.write(text);
  }

  private startHeartbeat(): void {
    if (this.heartbeat !== null) return;
    const beat = encodeComment();
    this.heartbeat = setInterval(() => {
      for (const response of this.open) this.write(response, beat);
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

/** Publisher credentials, or else admin ones: who may follow presence. */
async function followerOf(identity: IdentityProvider, request: FastifyRequest): Promise<void> {
  try {
    await identity.publisher(request);
  } catch (error) {
    await identity.admin(request).catch(() => {
      throw error;
    });
  }
}

/**
 * `GET /presence/events`: the SSE stream of `online` and `offline` events (see `core/presence-events.ts`)
 * for backends that follow who is online; resumable with `Last-Event-ID` within `--presence-history`.
 */
export function presenceEventRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const streams = new PresenceStreams(deps.presenceEvents);
  app.addHook('preClose', (done) => {
    streams.close();
    done();
  });
  app.get('/presence/events', async (request: FastifyRequest, reply: FastifyReply) => {
    await followerOf(deps.identity, request);
    const lastEventId = lastEventIdOf(request.raw, request.query as Record<string, unknown>);
    reply.hijack();
    const headers: Record<string, string | number | readonly string[]> = {};
    for (const [name, value] of Object.entries(reply.getHeaders()))
      if (value !== undefined) headers[name] = value;
    await streams.start(reply.raw, headers, lastEventId);
  });
}
