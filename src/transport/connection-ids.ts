import { isPlausibleLastEventId } from '../protocol/grammar.js';

/**
 * A stand-in for a resume point no log can have issued (log ids start with a digit, publisher ids with a
 * letter): a client's id that cannot be one is resumed from this, and answered with a `gap`.
 */
export const UNUSABLE_ID = '-';

/** The client's resume point as the hub and the log may be asked about it: itself, or `UNUSABLE_ID`. */
export function resumePoint(lastEventId: string): string {
  return isPlausibleLastEventId(lastEventId) ? lastEventId : UNUSABLE_ID;
}

/**
 * Mints connection ids unique within the process: `<node id>.<tag><counter in base 36>` (streams are
 * tagged '' and long-poll sessions `p`, each with its own counter).
 */
export class ConnectionIds {
  private count = 0;

  constructor(
    /** Prefix of the ids, unique per process (the node id). */
    private readonly nodeId: string,
    private readonly tag = '',
  ) {}

  next(): string {
    return `${this.nodeId}.${this.tag}${(++this.count).toString(36)}`;
  }
}
