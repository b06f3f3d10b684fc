import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { eventually } from './eventually.js';

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

/** Headless Chromium from the system (never downloaded by the tests). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}

/** Path of the empty page tabs open: served by the test (never by Herald), on Herald's origin. */
export const TEST_PAGE = '/__client-test';

/** A browser context whose tabs can open `TEST_PAGE` on any origin. */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.route(`**${TEST_PAGE}`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>client test</title>' }),
  );
  return context;
}

/** Options passed to `connect` in the page; `tokenUrl` makes `getToken` fetch a token from that path. */
export interface TabOptions {
  readonly user?: string;
  readonly groups?: string[];
  readonly tokenUrl?: string;
  readonly streamTimeout?: number;
  readonly retryStreamAfter?: number;
  readonly transport?: 'auto' | 'fetch' | 'eventsource' | 'poll';
}

/** Opens a tab on `origin` that connects with the client from `/herald.js` and records what it receives. */
export async function openTab(context: BrowserContext, origin: string, options: TabOptions): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${origin}${TEST_PAGE}`);
  await startClient(page, options);
  return page;
}

/** Connects the client in a tab that has none yet (just opened, or reloaded) and records what it receives. */
export async function startClient(page: Page, options: TabOptions): Promise<void> {
  await page.evaluate(async (options) => {
    // Runs in the page (the test's tsconfig has no DOM types).
    const w = globalThis as unknown as Record<string, unknown> & { location: { origin: string } };
    const origin = w.location.origin;
    const { connect } = await import(`${origin}/herald.js`);
    const seen: unknown[] = [];
    const gaps: unknown[] = [];
    const disconnects: unknown[] = [];
    const errors: string[] = [];
    const { tokenUrl, ...rest } = options;
    const getToken =
      tokenUrl === undefined ? undefined : () => fetch(tokenUrl).then((response) => response.text());
    const client = connect(origin, { ...rest, ...(getToken ? { getToken } : {}) });
    client.on('*', (m: unknown) => seen.push(m));
    client.on('gap', (g: unknown) => gaps.push(g));
    client.on('disconnect', (d: unknown) => disconnects.push(d));
    client.on('error', (e: unknown) => errors.push(String(e)));
    Object.assign(w, { client, seen, gaps, disconnects, errors });
  }, options);
}

/** Makes `path` (e.g. `/__token/alice`) answer with a fresh token for `sub`, as an app's backend would. */
export async function serveToken(
  context: BrowserContext,
  path: string,
  mint: () => Promise<string>,
): Promise<void> {
  await context.route(`**${path}`, async (route) =>
    route.fulfill({ contentType: 'text/plain', body: await mint() }),
  );
}

/** What a tab's client reports. */
export interface TabView {
  state: string;
  transport: string | undefined;
  leader: boolean;
  ids: string[];
  data: unknown[];
  gaps: unknown[];
  disconnects: unknown[];
  errors: string[];
}

/** Reads a tab's client state and received messages. */
export function view(page: Page): Promise<TabView> {
  return page.evaluate(() => {
    const w = globalThis as unknown as {
      client: { state: string; transport: string | undefined; leader: boolean };
      seen: { id: string; data: unknown }[];
      gaps: unknown[];
      disconnects: unknown[];
      errors: string[];
    };
    return {
      state: w.client.state,
      transport: w.client.transport,
      leader: w.client.leader,
      ids: w.seen.map((m) => m.id),
      data: w.seen.map((m) => m.data),
      gaps: w.gaps,
      disconnects: w.disconnects,
      errors: w.errors,
    };
  });
}

/** Waits until every tab's view satisfies `check`. */
export async function allTabs(
  what: string,
  pages: Page[],
  check: (v: TabView) => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  await eventually(what, async () => (await Promise.all(pages.map(view))).every(check), timeoutMs);
}

/**
 * A reverse proxy that, while `blocking`, holds every SSE response back (as a buffering proxy does):
 * the client sees no byte of the stream. Everything else passes through.
 */
export interface BlockingProxy {
  readonly url: string;
  blocking: boolean;
  /** Streams held back so far. */
  readonly held: number;
  close(): Promise<void>;
}

/** Starts a `BlockingProxy` to `target` on a free port. */
export async function startBlockingProxy(target: string): Promise<BlockingProxy> {
  const upstream = new URL(target);
  let held = 0;
  const proxy = {
    blocking: true,
    get held() {
      return held;
    },
  } as BlockingProxy & { blocking: boolean };
  const server = http.createServer((request, response) => {
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
        agent: false,
      },
      (answer) => {
        const isStream = (answer.headers['content-type'] ?? '').startsWith('text/event-stream');
        if (isStream && proxy.blocking) {
          held++;
          // Buffer forever: neither headers nor bytes reach the client.
          answer.resume();
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forward.on('error', () => response.destroy());
    response.on('close', () => forward.destroy());
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
