/**
 * Deadlines for many items on one timer: items are bucketed by the tick in which they fall due, and a
 * single interval (running only while something is watched) fires each due bucket. Adding and removing
 * are O(1) and nothing is allocated per tick, so 100k connections with expiring tokens cost one timer,
 * where a timer per connection would cost 100k timer objects and their re-arming.
 */
export class ExpiryWheel<T> {
  private readonly buckets = new Map<number, Set<T>>();
  private timer: NodeJS.Timeout | null = null;
  /** The next tick whose bucket has not fired yet. */
  private cursor: number;
  private watched = 0;

  constructor(
    /** Called once for each item whose deadline has passed (never for an item removed before). */
    private readonly onExpire: (item: T) => void,
    /** Tick length, in milliseconds: deadlines fire at most this late. */
    private readonly resolutionMs = 1000,
  ) {
    this.cursor = this.tickOf(Date.now());
  }

  /** Number of items watched. */
  get size(): number {
    return this.watched;
  }

  /** Fires `onExpire(item)` at `deadline` (ms since the epoch); returns a function that cancels it. */
  add(item: T, deadline: number): () => void {
    // An item already due fires on the next tick, never synchronously inside the caller.
    const tick = Math.max(this.tickOf(deadline), this.cursor);
    let bucket = this.buckets.get(tick);
    if (bucket === undefined) {
      bucket = new Set();
      this.buckets.set(tick, bucket);
    }
    bucket.add(item);
    this.watched++;
    this.ensureTimer();
    return () => {
      const current = this.buckets.get(tick);
      if (current?.delete(item) !== true) return;
      this.watched--;
      if (current.size === 0) this.buckets.delete(tick);
      if (this.watched === 0) this.stop();
    };
  }

  /** Stops the timer; pending deadlines are forgotten. */
  close(): void {
    this.buckets.clear();
    this.watched = 0;
    this.stop();
  }

  private tickOf(time: number): number {
    return Math.ceil(time / this.resolutionMs);
  }

  private ensureTimer(): void {
    if (this.timer !== null) return;
    this.cursor = Math.min(this.cursor, this.tickOf(Date.now()));
    this.timer = setInterval(() => this.fire(), this.resolutionMs);
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  private fire(): void {
    const now = Math.floor(Date.now() / this.resolutionMs);
    // After a long pause (a suspended machine), walking every missed tick would be slower than the map.
    const due =
      now - this.cursor > this.buckets.size
        ? [...this.buckets.keys()].filter((tick) => tick <= now).sort((a, b) => a - b)
        : null;
    if (due !== null) for (const tick of due) this.fireBucket(tick);
    else for (let tick = this.cursor; tick <= now; tick++) this.fireBucket(tick);
    this.cursor = now + 1;
    if (this.watched === 0) this.stop();
  }

  private fireBucket(tick: number): void {
    const bucket = this.buckets.get(tick);
    if (bucket === undefined) return;
    this.buckets.delete(tick);
    this.watched -= bucket.size;
    for (const item of bucket) this.onExpire(item);
  }
}
