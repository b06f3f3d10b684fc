import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Disconnect } from '../../src/core/disconnect.js';
import { launchBrowser, newContext, TEST_PAGE } from '../helpers/browser.js';
import { legacyToken, publisherToken, publishForm, startMercure } from '../helpers/mercure.js';

/** A page's EventSource records here what it received. */
declare const window: { received: { id: string; data: string }[]; opens: number; source: { close(): void } };
declare const location: { href: string };

describe('a plain EventSource in Chromium on the Mercure hub', () => {
  test('§Cookie, §Reconciliation: subscribes with the cookie, resumes from the page cursor (last_event_id), and after a drop from Last-Event-ID', async (t) => {
    const browser = await launchBrowser(t);
    if (browser === undefined) return;
    const node = await startMercure();
    try {
      const context = await newContext(browser);
      const topic = 'https://example.com/browser/1';
      await context.addCookies([
        { name: 'mercureAuthorization', value: await legacyToken({ subscribe: [topic] }), url: node.url },
      ]);
      const page = await context.newPage();
      await page.goto(`${node.url}${TEST_PAGE}`);
      // The application got the cursor from a resource's discovery Link header before opening the stream.
      const served = await fetch(`${node.url}/`);
      await served.body?.cancel();
      const cursor = /last-event-id="([^"]+)"/.exec(served.headers.get('link') ?? '')?.[1] as string;
      const token = await publisherToken();
      await publishForm(
        node.url,
        [
          ['topic', topic],
          ['data', 'before the stream'],
          ['private', 'on'],
        ],
        token,
      );
      await page.evaluate(
        ({ topic, cursor }) => {
          window.received = [];
          window.opens = 0;
          const url = new URL('/.well-known/mercure', location.href);
          url.searchParams.append('match', topic);
          url.searchParams.append('last_event_id', cursor);
          const source = new EventSource(url);
          source.onopen = () => window.opens++;
          source.onmessage = (event) => window.received.push({ id: event.lastEventId, data: event.data });
          window.source = source;
        },
        { topic, cursor },
      );
      await page.waitForFunction(() => window.received.length === 1);
      await publishForm(
        node.url,
        [
          ['topic', topic],
          ['data', 'live'],
          ['private', 'on'],
        ],
        token,
      );
      await page.waitForFunction(() => window.received.length === 2);
      node.herald.hub.disconnectAll(Disconnect.closedByServer);
      await publishForm(
        node.url,
        [
          ['topic', topic],
          ['data', 'while away'],
          ['private', 'on'],
        ],
        token,
      );
      await page.waitForFunction(() => window.received.length === 3, undefined, { timeout: 15_000 });
      const received = await page.evaluate(() => window.received);
      assert.deepEqual(
        received.map((e) => e.data),
        ['before the stream', 'live', 'while away'],
      );
      assert.ok(received.every((e) => e.id.startsWith('#')));
      assert.equal(await page.evaluate(() => window.opens), 2);
      await page.evaluate(() => window.source.close());
    } finally {
      await browser.close();
      await node.close();
    }
  });
});
