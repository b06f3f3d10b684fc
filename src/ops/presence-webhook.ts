import { createHmac } from 'node:crypto';
import type { PresenceEvent } from '../core/presence-events.js';

/** Options of the presence webhook. */
export interface PresenceWebhookOptions {
  /** `--presence-webhook`: told of every presence event this node decides, by `POST`. */
  readonly url: string;
  /** `--presence-webhook-secret`: the HMAC-SHA256 key of the `Herald-Signature` header. */
  readonly secret: string;
  /** First wait before a retry; doubled after each failure up to `maxDelayMs`. Default 250 ms. */
  readonly retryBaseMs?: number;
  /** Longest wait between two attempts. Default 30 s. */
  readonly maxDelayMs?: number;
  /** Attempts per event before it is given up. Default 10 (about four minutes of retrying). */
  readonly maxAttempts?: number;
  /** Events waiting at most; past it the oldest waiting (not the one being sent) is dropped. Default 10 000. */
  readonly maxQueue?: number;
  /** Longest wait for one answer. Default 5 s. */
  readonly timeoutMs?: number;
  /** Told of an event given up (its attempts spent, or dropped from a full queue). */
  readonly onGiveUp: (event: PresenceEvent, why: string) => void;
}

/** The signature header's value for `body` sent at `seconds` (Unix time), as the receiver recomputes it. */
export function presenceSignature(secret: string, seconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${seconds}.${body}`).digest('hex');
  return `t=${seconds},v1=${mac}`;
}

/**
 * Sends presence events to a URL, for backends that cannot hold a stream: each event is one `POST` of
 * `{"id","event","user","connections","ts"}`, signed with `Herald-Signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA256 of "<t>.<body>">`, retried with exponential backoff until a 2xx. Events go one at a time, in
 * order, from a bounded queue; nothing on the message path waits for them.
 */
export class PresenceWebhook {
  private readonly queue: PresenceEvent[] = [];
  private pumping = false;
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(private readonly options: PresenceWebhookOptions) {}

  /** Queues an event; returns at once. */
  send(event: PresenceEvent): void {
    if (this.closed) return;
    if (this.queue.length >= (this.options.maxQueue ?? 10_000)) {
      const dropped = this.queue.splice(1, 1)[0];
      if (dropped !== undefined) this.options.onGiveUp(dropped, 'the webhook queue is full');
    }
    this.queue.push(event);
    if (!this.pumping) void this.pump();
  }

  /** Stops sending (shutdown); what is still queued is not sent. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (let event = this.queue[0]; event !== undefined && !this.closed; event = this.queue[0]) {
        await this.deliver(event);
        this.queue.shift();
      }
    } finally {
      this.pumping = false;
    }
  }

  private async deliver(event: PresenceEvent): Promise<void> {
    const { retryBaseMs = 250, maxDelayMs = 30_000, maxAttempts = 10 } = this.options;
    const body = JSON.stringify({
      id: event.id,
      event: event.event,
      user: event.user,
      connections: event.connections,
      ts: event.ts,
    });
    let delay = retryBaseMs;
    let why = '';
    for (let attempt = 1; attempt <= maxAttempts && !this.closed; attempt++) {
      why = await this.post(event, body);
      if (why === '') return;
      if (attempt === maxAttempts) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
      delay = Math.min(delay * 2, maxDelayMs);
    }
    if (!this.closed) this.options.onGiveUp(event, `${maxAttempts} attempts failed, the last: ${why}`);
  }

  /** One attempt: '' when the receiver answered 2xx, else why not. */
  private async post(event: PresenceEvent, body: string): Promise<string> {
    const seconds = Math.floor(Date.now() / 1000);
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'herald-event': event.event,
          'herald-delivery': event.id,
          'herald-signature': presenceSignature(this.options.secret, seconds, body),
        },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
      });
      await response.body?.cancel();
      return response.ok ? '' : `HTTP ${response.status}`;
    } catch (error) {
      return (error as Error).message;
    }
  }
}
