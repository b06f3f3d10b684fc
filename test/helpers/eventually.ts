import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls `check` until it returns true; for state the server exposes no event for (such as counts after
 * peers vanished). Bounded in time; fails with `what` when the deadline passes.
 */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await delay(10);
  }
}
