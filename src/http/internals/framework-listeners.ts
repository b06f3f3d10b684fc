import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import { StartupError } from '../../errors.js';

/**
 * Fastify keeps a `finish`/`error` listener on every response (`setupResponseListeners` in
 * fastify/lib/reply.js) that retains its request, reply and child logger until the response ends. A
 * hijacked stream needs none of it (no `onResponse` hook applies to a stream, request logging is off), so
 * the stream releases it and an idle connection does not hold them for its lifetime. Fastify has no public
 * call for this: the listener is found by its function name, which `checkFrameworkListeners` checks at
 * start, so a Fastify that renamed it fails the start instead of silently keeping the objects.
 */
const FRAMEWORK_LISTENER = 'onResFinished';
const EVENTS = ['finish', 'error'] as const;
const ignoreError = (): void => {};

/** Removes Fastify's per-response listener from a hijacked response; returns how many were removed. */
export function releaseFrameworkListeners(response: ServerResponse): number {
  let removed = 0;
  for (const event of EVENTS) {
    for (const listener of response.listeners(event)) {
      if ((listener as { name?: string }).name === FRAMEWORK_LISTENER) {
        response.removeListener(event, listener as (...args: unknown[]) => void);
        removed++;
      }
    }
  }
  // An 'error' event without a listener would throw; one shared no-op keeps that as before.
  if (response.listenerCount('error') === 0) response.on('error', ignoreError);
  return removed;
}

/**
 * The start-up check: a Fastify app set up as Herald's (a logger, request logging off) answers one
 * request by hijacking it, as a stream does, and the release must find Fastify's listener on both events.
 * Throws a `StartupError` naming this file when it does not.
 */
export async function checkFrameworkListeners(logger: FastifyBaseLogger): Promise<void> {
  const probe = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  let removed = -1;
  probe.get('/', (_request, reply) => {
    reply.hijack();
    removed = releaseFrameworkListeners(reply.raw);
    reply.raw.end();
  });
  try {
    await probe.inject({ method: 'GET', url: '/' });
  } finally {
    await probe.close();
  }
  if (removed !== EVENTS.length) {
    throw new StartupError(
      `Fastify ${probe.version} changed what Herald relies on: a reply's response no longer carries its ` +
        `"${FRAMEWORK_LISTENER}" listener on ${EVENTS.join(' and ')} (found ${Math.max(0, removed)}), so ` +
        'idle streams would keep their request and reply alive; src/http/internals/framework-listeners.ts ' +
        'needs updating for this version',
    );
  }
}
