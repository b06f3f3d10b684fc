import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hub } from '../core/hub.js';
import { type Encoder, type Greeting, type MessageFilter, Subscription } from '../core/subscription.js';
import type { SseEvent } from '../protocol/sse-frame.js';
import { ConnectionIds, resumePoint } from './connection-ids.js';
import type { SseSink, SseTransport, StreamCloseListener } from './sse.js';
import { sseEncoder } from './sse-encoder.js';

/** Who a stream is for, after authentication. */
export interface StreamRequest {
  readonly userId: string;
  readonly groups: readonly string[];
  /** The client's resume point (`Last-Event-ID`), if any. */
  readonly lastEventId: string | undefined;
  /** Events sent after `connected`, such as the classic API's greeting. */
  readonly greetingEvents?: readonly Omit<SseEvent, 'id'>[];
  /** Response headers beyond the stream's own (CORS, request id). */
  readonly headers?: Readonly<Record<string, string | number | readonly string[]>>;
  /** Runs once when the connection closes, after the hub forgot the subscription. */
  readonly onClose?: () => void;
  /** A protocol adapter's own frames (Mercure's ids and fields); default: Herald's `sseEncoder`. */
  readonly encoder?: Encoder;
  /** A protocol adapter's own first frames, given the connection id; default: `retry:` and `connected`. */
  readonly greeting?: (connectionId: string) => Greeting;
  /** Narrows what the subscription takes of what is routed to it (see `MessageFilter`). */
  readonly filter?: MessageFilter;
}

/** Shared by every subscription without groups (most of them), instead of an empty array each. */
const NO_GROUPS: readonly string[] = Object.freeze([]);

/** Opens SSE streams onto the hub; shared by the native `/events` route and the protocol adapters. */
export class StreamOpener implements StreamCloseListener {
  private readonly ids: ConnectionIds;

  constructor(
    private readonly hub: Hub,
    private readonly sse: SseTransport,
    /** Prefix of connection ids, unique per process (node id). */
    nodeId: string,
    private readonly onError: (error: unknown) => void,
  ) {
    this.ids = new ConnectionIds(nodeId);
  }

  /** Starts the stream on `response`; returns its subscription. */
  open(request: IncomingMessage, response: ServerResponse, stream: StreamRequest): Subscription {
    const connectionId = this.ids.next();
    const sink = this.sse.start(request, response, this, {
      headers: stream.headers,
      onClose: stream.onClose,
    });
    const groups = stream.groups.length === 0 ? NO_GROUPS : stream.groups;
    const info = {
      transport: request.httpVersionMajor === 2 ? 'sse-h2' : 'sse',
      remoteAddress: request.socket.remoteAddress ?? '',
    };
    const encoder = stream.encoder ?? sseEncoder;
    const filter = stream.filter ?? null;
    const subscription = new Subscription(connectionId, stream.userId, groups, sink, encoder, info, filter);
    sink.subscription = subscription;
    if (request.socket.destroyed) this.hub.detach(subscription);
    const lastEventId = stream.lastEventId === undefined ? undefined : resumePoint(stream.lastEventId);
    const greeting =
      stream.greeting?.(connectionId) ?? this.sse.greeting(connectionId, stream.greetingEvents);
    if (!subscription.closed) this.hub.attach(subscription, lastEventId, greeting).catch(this.onError);
    return subscription;
  }

  /** A stream's connection closed: the hub forgets its subscription, then the stream's own callback runs. */
  streamClosed(sink: SseSink): void {
    if (sink.subscription !== null) this.hub.detach(sink.subscription);
    sink.onClose?.();
  }
}

/** Reads the resume point: the `Last-Event-ID` header, else the `lastEventId` query parameter. */
export function lastEventIdOf(request: IncomingMessage, query: Record<string, unknown>): string | undefined {
  const header = request.headers['last-event-id'];
  if (typeof header === 'string' && header !== '') return header;
  const param = query.lastEventId;
  return typeof param === 'string' && param !== '' ? param : undefined;
}
