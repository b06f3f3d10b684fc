import type { BackendOpening } from '../core/ports.js';
import type { BackendKind, BackendOptions } from './kind.js';
import { memoryBackend } from './memory/backend.js';
import { redact } from './redact.js';
import { redisBackend } from './redis/backend.js';
import { sqliteBackend } from './sqlite/backend.js';

export type { BackendOptions } from './kind.js';
export { redact } from './redact.js';

/**
 * Every backend, by the `--log` URL that picks it: the one place that knows which backends exist. Adding
 * one is a folder under `backends/` exporting a `BackendKind`, and its line here.
 */
const BACKENDS: readonly BackendKind[] = [memoryBackend, sqliteBackend, redisBackend];

/**
 * Why `--log=<url>` names no backend it can open, or undefined when it does; the value in the text has
 * its password hidden. (The configuration raises it as its own error.)
 */
export function logUrlProblem(url: string): string | undefined {
  if (BACKENDS.some((kind) => kind.claims(url) && kind.valid(url))) return undefined;
  const expected = BACKENDS.map((kind) => kind.expected);
  return `invalid --log=${JSON.stringify(redact(url))}: expected ${expected.slice(0, -1).join(', ')} or ${expected.at(-1)}`;
}

/** Opens the backend `url` names (see `BackendOpening` for the second step, `attach(hub)`). */
export function openBackend(url: string, options: BackendOptions): Promise<BackendOpening> {
  const kind = BACKENDS.find((k) => k.claims(url));
  if (kind === undefined) return Promise.reject(new Error(`unsupported log ${redact(url)}`));
  return kind.open(url, options);
}
