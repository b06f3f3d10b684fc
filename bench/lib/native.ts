/**
 * The bench's C programs (`bench/native/*.c`): built with `gcc -O2` at bench start into `bench/.build/`
 * (git-ignored), again only when a source is newer than its binary.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { ROOT } from './root.js';

const SOURCES = `${ROOT}bench/native/`;
const BUILD = `${ROOT}bench/.build/`;

/** The C programs by name: `load-generator` (subscribers and publishers), `epoll-reference` (a server). */
export type NativeProgram = 'load-generator' | 'epoll-reference';

/** Path of the built program. */
export const nativePath = (program: NativeProgram): string => `${BUILD}${program}`;

/** The wrk script of scenario C. */
export const WRK_SCRIPT = `${SOURCES}unicast.lua`;

/** Builds every program that is missing or older than its source; throws with gcc's output on failure. */
export function buildNative(): void {
  mkdirSync(BUILD, { recursive: true });
  for (const program of ['load-generator', 'epoll-reference'] as const) {
    const source = `${SOURCES}${program}.c`;
    const binary = nativePath(program);
    if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) continue;
    execFileSync('gcc', ['-O2', '-Wall', '-o', binary, source, '-lm'], { stdio: 'inherit' });
  }
}
