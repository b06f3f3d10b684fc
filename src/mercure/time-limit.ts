import { createContext, Script } from 'node:vm';

/**
 * Runs a regular-expression test under a time limit, as the Mercure draft requires of matchers a crafted
 * pattern could make backtrack: V8's engine backtracks, so such a test runs in a `vm` script with a
 * `timeout`, which interrupts the regexp. Costs some tens of microseconds per call; used only for the
 * matchers that are not linear (see `url-pattern.ts` and `uri-template.ts`), and results are cached.
 */

/** Longest a single match may run, in milliseconds; past it the pattern does not match. */
export const MATCH_TIME_LIMIT_MS = 5;

interface Job {
  test: (() => boolean) | null;
}

const job: Job = { test: null };
const context = createContext({ job });
const script = new Script('job.test()');

/** `test()`, or false (and `onTimeout()`) when it ran past the limit. */
export function testWithin(test: () => boolean, onTimeout: () => void): boolean {
  job.test = test;
  try {
    return script.runInContext(context, { timeout: MATCH_TIME_LIMIT_MS }) === true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw error;
    onTimeout();
    return false;
  } finally {
    job.test = null;
  }
}
