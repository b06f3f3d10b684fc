import type { Audience } from '../protocol/topics.js';
import type { DisconnectReason } from './disconnect.js';
import type { Message } from './message.js';

/** Bytes out to one client: implemented by each transport (SSE over HTTP/1.1 or HTTP/2, ...). */
export interface Sink {
  /** Writes whole frames; never called with a partial frame. */
  write(chunk: Buffer): void;
  /** Bytes accepted by `write` but not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Resolves once buffered output has drained (or the connection closed). */
  drained(): Promise<void>;
  /** Ends the connection; the transport then calls `Hub.detach`. Idempotent. */
  end(reason: DisconnectReason): void;
}

/** What the transport knows about the connection, for presence listings. */
export interface ConnectionInfo {
  readonly transport: string;
  readonly remoteAddress: string;
}

/** One open connection of one user. Mutable state is the hub's; transports only read it. */
export class Subscription implements Audience {
  /** Milliseconds since the epoch at which it was opened. */
  readonly openedAt = Date.now();
  /** Frames waiting for this tick's flush; coalesced into one write. */
  pending: Buffer[] = [];
  pendingBytes = 0;
  /** While replaying history: live messages held back, to be deduplicated against the replay. */
  held: Message[] | null = null;
  heldBytes = 0;
  /** When replay read ahead of the local tail: drop live messages up to this position. */
  skipThrough: string | null = null;
  /** The hub's delivery counter at the last message offered, so a message with many topics is sent once. */
  deliveryMark = 0;
  closed = false;

  constructor(
    /** Connection id, unique within the process. */
    readonly id: string,
    readonly userId: string,
    readonly groups: readonly string[],
    readonly sink: Sink,
    readonly info: ConnectionInfo,
  ) {}
}
