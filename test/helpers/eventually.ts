import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls `check` until it returns true; for state the server exposes no event for (counts after peers
 * vanished, a node's readiness after a fault). A check that throws counts as not yet. Bounded in time;
 * fails with `what` (and the last error) when the deadline passes.
 */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}${last ? ` (${last})` : ''}`);
    await delay(20);
  }
}
