import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Disconnect } from '../core/disconnect.js';
import type { Hub } from '../core/hub.js';
import type { Message } from '../core/message.js';
import type { ConnectionControl, Log, Presence } from '../core/ports.js';
import { HeraldError, Problems } from '../errors.js';
import type { StatsSample, StatsSampler } from '../ops/stats.js';
import { encodeEventText, encodeRetry } from '../protocol/sse-frame.js';
import type { SseSink, SseTransport, StreamCloseListener } from '../transport/sse.js';
import { hijackForStream, type StreamHeaders } from './hijack.js';
import type { IdentityProvider } from './identity.js';
import { MAX_PAGE, userIdParam } from './presence.js';
import { parseMessage } from './publish-request.js';
import { queryOne } from './query.js';

/** What the admin API and dashboard work with; built by the composition root. */
export interface AdminDeps {
  readonly hub: Hub;
  /** The log the publish API uses (the publish gate), so sends from the dashboard are counted and drained. */
  readonly log: Log;
  readonly presence: Presence;
  /** Server-side close: this node's, or every node's when clustered. */
  readonly control: ConnectionControl;
  readonly identity: IdentityProvider;
  readonly stats: StatsSampler;
  readonly feed: AdminFeed;
  readonly nodeId: string;
  /** `--inbox-max-ttl`: the longest `ttl` a message sent from the dashboard may have, as on `POST /messages`. */
  readonly inboxMaxTtlMs: number;
}

/** One connection of a user, as the dashboard lists it. */
export interface ConnectionView {
  readonly id: string;
  readonly node: string;
  /** ISO 8601 time at which it was opened. */
  readonly since: string;
  readonly transport: string;
  readonly remoteAddress: string;
}

/** Messages listed per tail event at most; the rest of a busy second is only counted. */
const TAIL_PER_TICK = 50;
/** Payload characters shown in the tail when payloads are asked for. */
const TAIL_PAYLOAD_CHARS = 1024;
/** An admin stream whose client stops reading is dropped past this much unsent output. */
const MAX_ADMIN_BUFFER = 1 << 20;

interface TailEntry {
  readonly id: string;
  readonly topics: readonly string[];
  readonly event: string | undefined;
  readonly size: number;
  readonly ts: number;
  readonly data?: string;
}

/**
 * The dashboard's live feed: one `stats` event per sample and a `tail` of the messages routed since the
 * previous one, to every open admin stream. Records messages only while a dashboard is open, and then at
 * most `TAIL_PER_TICK` per second, so the cost on the message path is a size check. Its streams are SSE
 * streams like every other (`transport/sse.ts`: the same headers, heartbeat, hand-off and close), written
 * by the feed instead of the hub.
 */
export class AdminFeed implements StreamCloseListener {
  /** Open admin streams, and whether each shows payloads. */
  private readonly streams = new Map<SseSink, boolean>();
  private recent: Message[] = [];
  private skipped = 0;
  private readonly unsubscribe: () => void;

  constructor(
    stats: StatsSampler,
    private readonly sse: SseTransport,
  ) {
    this.unsubscribe = stats.subscribe((sample) => this.broadcast(sample));
  }

  /** Open admin streams. */
  get size(): number {
    return this.streams.size;
  }

  /** Called once per routed message. */
  record(message: Message): void {
    if (this.streams.size === 0) return;
    if (this.recent.length < TAIL_PER_TICK) this.recent.push(message);
    else this.skipped++;
  }

  /** Starts an admin stream on a hijacked response: the `retry:` hint and a `hello` event, then samples. */
  open(
    request: IncomingMessage,
    response: ServerResponse,
    headers: StreamHeaders,
    hello: unknown,
    payloads: boolean,
  ): void {
    const sink = this.sse.start(request, response, this, { headers });
    // Gone before the route ran: the sink was closed at once.
    if (request.socket.destroyed) return;
    sink.write(
      Buffer.from(encodeRetry(2000) + encodeEventText({ event: 'hello', data: JSON.stringify(hello) })),
    );
    this.streams.set(sink, payloads);
  }

  streamClosed(sink: SseSink): void {
    this.streams.delete(sink);
  }

  /** Ends every admin stream telling the page to reconnect (shutdown); stops listening to samples. */
  close(): void {
    this.unsubscribe();
    for (const sink of this.streams.keys()) sink.end(Disconnect.shutdown);
    this.streams.clear();
  }

  private broadcast(sample: StatsSample): void {
    const messages = this.recent;
    const skipped = this.skipped;
    this.recent = [];
    this.skipped = 0;
    if (this.streams.size === 0) return;
    const stats = encodeEventText({ event: 'stats', data: JSON.stringify(sample) });
    const tail = (payloads: boolean): string =>
      messages.length === 0 && skipped === 0
        ? ''
        : encodeEventText({
            event: 'tail',
            data: JSON.stringify({ messages: messages.map((m) => tailEntry(m, payloads)), skipped }),
          });
    // Encoded at most once per flavour, whatever the number of dashboards.
    const frames = new Map<boolean, Buffer>();
    for (const [sink, payloads] of this.streams) {
      if (sink.bufferedBytes > MAX_ADMIN_BUFFER) {
        sink.end(Disconnect.slowConsumer);
        continue;
      }
      let frame = frames.get(payloads);
      if (frame === undefined) {
        frame = Buffer.from(stats + tail(payloads));
        frames.set(payloads, frame);
      }
      sink.write(frame);
    }
  }
}

function tailEntry(message: Message, payloads: boolean): TailEntry {
  const entry = {
    id: message.id,
    topics: message.topics,
    event: message.event,
    size: Buffer.byteLength(message.data),
    ts: message.ts,
  };
  return payloads ? { ...entry, data: message.data.slice(0, TAIL_PAYLOAD_CHARS) } : entry;
}

/** The dashboard's page and script, served at `/admin/` whatever `--web-root` says. */
export const ADMIN_WEB_ROOT = fileURLToPath(new URL('../../../web/admin/', import.meta.url));

/** Reads a file of an installed package (the dashboard's chart library), once at start. */
function packageFile(specifier: string): Buffer {
  return readFileSync(createRequire(import.meta.url).resolve(specifier));
}

/**
 * The dashboard (`/admin`, static files in `web/admin/`), its live stream (`GET /admin/stream`) and the
 * admin JSON API (`/admin/api/...`). Everything but the static page asks `identity.admin()`.
 */
export function adminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const admin = (request: FastifyRequest): Promise<void> => deps.identity.admin(request);
  const vendor: Record<string, { type: string; body: Buffer }> = {
    'uplot.js': { type: 'text/javascript', body: packageFile('uplot/dist/uPlot.iife.min.js') },
    'uplot.css': { type: 'text/css', body: packageFile('uplot/dist/uPlot.min.css') },
  };

  app.get('/admin', async (_request, reply) => reply.redirect('/admin/'));
  // Herald's own files, apart from the pages at `/` (`--web-root` replaces those, never the dashboard).
  void app.register(fastifyStatic, {
    root: ADMIN_WEB_ROOT,
    prefix: '/admin/',
    index: 'index.html',
    wildcard: false,
    decorateReply: false,
  });
  app.get<{ Params: { file: string } }>('/admin/vendor/:file', async (request, reply) => {
    const file = vendor[request.params.file];
    if (file === undefined) throw new HeraldError(Problems.notFound, `no file ${request.params.file}`);
    return reply.type(file.type).header('cache-control', 'public, max-age=86400').send(file.body);
  });

  app.get('/admin/api/stats', async (request) => {
    await admin(request);
    return { node: deps.nodeId, latest: deps.stats.latest(), history: deps.stats.history };
  });

  app.get('/admin/api/users', async (request) => {
    await admin(request);
    const query = request.query as Record<string, unknown>;
    const limitText = queryOne(query.limit) ?? '50';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_PAGE) {
      throw new HeraldError(Problems.invalidRequest, `limit must be an integer from 1 to ${MAX_PAGE}`, {
        field: 'limit',
      });
    }
    const page = await deps.presence.listUsers({
      prefix: queryOne(query.prefix) ?? '',
      limit,
      cursor: queryOne(query.cursor),
    });
    return {
      users: page.users.map((user) => ({ ...user, connectionList: connectionsOf(deps, user.id) })),
      nextCursor: page.nextCursor,
    };
  });

  app.get<{ Params: { id: string } }>('/admin/api/users/:id', async (request) => {
    await admin(request);
    const id = userIdParam(request.params.id);
    const presence = await deps.presence.user(id);
    return { ...presence, connectionList: connectionsOf(deps, id) };
  });

  app.delete<{ Params: { id: string } }>('/admin/api/users/:id/connections', async (request) => {
    await admin(request);
    const id = userIdParam(request.params.id);
    const closed = await deps.control.disconnectUser(id);
    request.log.info({ user: id, closed }, 'user disconnected from the admin API');
    return { user: id, closed };
  });

  app.post('/admin/api/messages', async (request, reply) => {
    await admin(request);
    const message = await deps.log.append(parseMessage(request.body, '', deps.inboxMaxTtlMs));
    return reply.code(202).send({ id: message.id });
  });

  app.get('/admin/stream', async (request, reply) => {
    await admin(request);
    const payloads = queryOne((request.query as Record<string, unknown>).payloads) === '1';
    const headers = hijackForStream(reply);
    const hello = { node: deps.nodeId, history: deps.stats.history };
    deps.feed.open(request.raw, reply.raw, headers, hello, payloads);
  });
}

function connectionsOf(deps: AdminDeps, userId: string): ConnectionView[] {
  return deps.hub.connectionsOf(userId).map((sub) => ({
    id: sub.id,
    node: deps.nodeId,
    since: new Date(sub.openedAt).toISOString(),
    transport: sub.info.transport,
    remoteAddress: sub.info.remoteAddress,
  }));
}
