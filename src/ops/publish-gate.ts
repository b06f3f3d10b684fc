import type { Message, MessageDraft } from '../core/message.js';
import { DuplicateIdError, type Log, type Replay } from '../core/ports.js';
import { HeraldError, Problems } from '../errors.js';
import type { Audience } from '../protocol/topics.js';

/** What the gate reports about publishes; the metrics implement it. */
export interface PublishObserver {
  /** `count` messages were accepted by the log in `seconds`. */
  published(count: number, seconds: number): void;
  /** The backend failed an operation (`append` or `read`); duplicates and refusals while draining are not failures. */
  logError(operation: 'append' | 'read'): void;
}

/**
 * The log as the API sees it: counts and times appends, and refuses new ones once the node drains, so a
 * shutdown can wait for the appends already started and then know no accepted message is still on its way.
 * Every publishing route (native, classic, admin) goes through it without knowing it exists.
 */
export class PublishGate implements Log {
  private inFlight = 0;
  private draining = false;
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly inner: Log,
    private readonly observer: PublishObserver,
  ) {}

  /** Appends that have started and not yet settled. */
  get pending(): number {
    return this.inFlight;
  }

  /** Refuses every later append with 503 `draining`; resolves once the appends already started settle. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  append(draft: MessageDraft): Promise<Message> {
    return this.track(1, () => this.inner.append(draft));
  }

  appendMany(drafts: readonly MessageDraft[]): Promise<Message[]> {
    return this.track(drafts.length, () => this.inner.appendMany(drafts));
  }

  head(): Promise<string> {
    return this.inner.head();
  }

  tail(listener: (message: Message) => void, onRestart?: (start: string) => void): void {
    this.inner.tail(listener, onRestart);
  }

  async readAfter(id: string, audience: Audience, limit: number): Promise<Replay> {
    try {
      return await this.inner.readAfter(id, audience, limit);
    } catch (error) {
      this.observer.logError('read');
      throw error;
    }
  }

  comparePositions(a: string, b: string): number {
    return this.inner.comparePositions(a, b);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async track<T>(count: number, append: () => Promise<T>): Promise<T> {
    if (this.draining) {
      throw new HeraldError(Problems.draining, 'this node is shutting down; publish to another node');
    }
    this.inFlight++;
    const start = performance.now();
    try {
      const result = await append();
      this.observer.published(count, (performance.now() - start) / 1000);
      return result;
    } catch (error) {
      if (!(error instanceof DuplicateIdError)) this.observer.logError('append');
      throw error;
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const resolve of [...this.idle]) resolve();
      if (this.inFlight === 0) this.idle.clear();
    }
  }
}
