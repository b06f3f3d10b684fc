/** A clock a test moves forward ("tomorrow"), passed to a node as its `now` (see `HeraldOptions`). */
export class TestClock {
  private offset = 0;

  /** Milliseconds since the epoch, moved by every `advance` so far. */
  readonly now = (): number => Date.now() + this.offset;

  advance(ms: number): void {
    this.offset += ms;
  }
}

export const DAY_MS = 86_400_000;
