import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { TestContext } from 'node:test';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium; Playwright's own download cannot run here. */
export const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';

/** Flags for Chromium on this machine: headless, as root, with no network of its own. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/**
 * Launches headless Chromium, or skips the test with one line saying why when it is not installed.
 * In CI (`CI` set) a missing browser fails instead: nothing may be skipped there.
 */
export async function launchBrowser(t: TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) throw new Error(`${CHROMIUM} is missing; CI must install Debian's chromium package`);
    t.skip(`${CHROMIUM} not found: apt-get install chromium to run browser tests`);
    return undefined;
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}

/** Where tests write screenshots (git-ignored). */
export async function screenshotPath(name: string): Promise<string> {
  const dir = new URL('../../../test-results/', import.meta.url).pathname;
  await mkdir(dir, { recursive: true });
  return `${dir}${name}.png`;
}
