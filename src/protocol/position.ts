/**
 * The format of log positions, the one home of the rules every backend shares.
 *
 * A position is `<epoch>-<key>`: the epoch is digits, drawn when a log's storage is created (or found
 * lost), so a position of an older log is unknown to the new one — a `gap`, never a wrong replay; the key
 * is the backend's own ordering key (a sequence number, or a Redis stream id `<ms>-<seq>`). Positions
 * therefore start with a digit, and publisher-chosen ids never do (`checkPublisherId` in `grammar.ts`):
 * the first character tells the two apart.
 */

const DIGITS = /^\d+$/;

/** True when `id` is a position a log assigned (it starts with a digit); false for a publisher-chosen id. */
export function isLogPosition(id: string): boolean {
  const code = id.charCodeAt(0);
  return code >= 48 && code <= 57;
}

/**
 * A fresh epoch drawn from the clock: the microseconds of now plus noise — digit-first, and distinct for
 * every draw (every process start, every file created).
 */
export function clockEpoch(): string {
  return String(Date.now() * 1000 + Math.floor(Math.random() * 1000));
}

/** The position of `key` in the log of `epoch`. */
export function positionOf(epoch: string, key: string | number): string {
  return `${epoch}-${key}`;
}

/** The key of a position: what follows its epoch. */
export function keyOf(position: string): string {
  return position.slice(position.indexOf('-') + 1);
}

/** Splits a position into its epoch and key; undefined when `position` is not `<digits>-<key>`. */
export function splitPosition(position: string): { epoch: string; key: string } | undefined {
  const dash = position.indexOf('-');
  if (dash <= 0) return undefined;
  const epoch = position.slice(0, dash);
  return DIGITS.test(epoch) ? { epoch, key: position.slice(dash + 1) } : undefined;
}

/**
 * The sequence number of `position` when it is `<epoch>-<seq>` of the log of `epoch` (a sequence of
 * digits within the safe integers); undefined for any other log's position or any other text.
 */
export function sequenceIn(position: string, epoch: string): number | undefined {
  const dash = position.indexOf('-');
  if (dash < 0 || position.slice(0, dash) !== epoch) return undefined;
  const text = position.slice(dash + 1);
  const seq = Number(text);
  return DIGITS.test(text) && Number.isSafeInteger(seq) ? seq : undefined;
}

/** Orders two `<epoch>-<seq>` positions of one log: negative, zero or positive. */
export function compareSequences(a: string, b: string): number {
  return Number(keyOf(a)) - Number(keyOf(b));
}
