import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { bearer, publishAs, tokenFor } from '../helpers/auth.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../helpers/browser.js';
import { startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse, type SseConnection } from '../helpers/sse-client.js';

const RESULTS = fileURLToPath(new URL('../../../test-results/', import.meta.url));

/** Waits until the element with this id shows text matching `text`. */
function shows(page: Page, id: string, text: RegExp): Promise<void> {
  return page.locator(`#${id}`, { hasText: text }).waitFor({ timeout: 10_000 });
}

/** A figure of the dashboard as a number ("1,234" → 1234). */
async function figure(page: Page, id: string): Promise<number> {
  return Number((await page.textContent(`#${id}`))?.replace(/,/g, ''));
}

describe('admin dashboard in headless Chromium', {
  skip:
    !existsSync(CHROMIUM) &&
    !process.env.CI &&
    `${CHROMIUM} not found: apt-get install chromium to run browser tests`,
}, () => {
  let node: TestHerald;
  let browser: Browser;
  let page: Page;
  const subscribers: SseConnection[] = [];

  before(async () => {
    node = await startSecureHerald({ publishRate: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS,
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    page.on('pageerror', (error) => assert.fail(`page error: ${error.message}`));
  });
  after(async () => {
    for (const sub of subscribers) sub.close();
    await browser?.close();
    await node?.close();
  });

  test('locked, the page shows only the key box: no dashboard, no figures, no forms', async () => {
    await page.goto(`${node.url}/admin`);
    await page.waitForSelector('#login-form', { state: 'visible' });
    assert.equal(await page.isVisible('#dashboard'), false, 'the dashboard is hidden');
    for (const selector of ['#connections', '#find-form', '#send-form', '#tail', '#logout'])
      assert.equal(await page.isVisible(selector), false, `${selector} is hidden`);
    // Nothing of the page below the key box takes room either.
    const box = await page.locator('#login').boundingBox();
    const height = await page.evaluate(
      () =>
        (globalThis as unknown as { document: { body: { scrollHeight: number } } }).document.body
          .scrollHeight,
    );
    assert.ok(
      box !== null && height <= box.y + box.height + 100,
      `page height ${height} ends near the key box`,
    );
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: `${RESULTS}admin-locked.png`, fullPage: true });
  });

  test('asks for the admin key, then shows the live figures', async () => {
    await page.goto(`${node.url}/admin`);
    await page.waitForSelector('#login-form', { state: 'visible' });
    await page.fill('#login-key', 'wrong-key');
    await page.click('#login-form button');
    await shows(page, 'login-error', /./);
    await page.fill('#login-key', TEST_KEYS.adminKey);
    await page.click('#login-form button');
    await page.waitForSelector('#dashboard', { state: 'visible' });
    await page.waitForSelector('#state.live');
    await shows(page, 'connections', /^0$/);
  });

  test('the figures move when load is applied', async () => {
    for (const user of ['alice', 'bob', 'carol', 'dave']) {
      const sub = await openSse(`${node.url}/events`, bearer(await tokenFor(user, { groups: ['team'] })));
      await sub.waitFor(1);
      subscribers.push(sub);
    }
    // Bounded load: 40 batches of 10 messages to the group, over about two seconds.
    for (let i = 0; i < 40; i++) {
      const batch = Array.from({ length: 10 }, (_, j) => ({
        to: { groups: ['team'] },
        data: `load ${i}.${j}`,
      }));
      const response = await fetch(`${node.url}/messages`, {
        method: 'POST',
        headers: { ...bearer(TEST_KEYS.publishKey), 'content-type': 'application/json' },
        body: JSON.stringify(batch),
      });
      assert.equal(response.status, 202);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await shows(page, 'connections', /^4$/);
    await shows(page, 'users', /^4$/);
    await shows(page, 'delivered', /^1,600$/);
    assert.equal(await figure(page, 'published'), 400);
    assert.ok((await page.locator('#tail tr').count()) > 0, 'the tail lists messages');
    assert.ok((await page.locator('#chart-rates canvas').count()) > 0, 'the chart is drawn');
  });

  test('a message sent from the page reaches its subscriber', async () => {
    const alice = subscribers[0] as SseConnection;
    const before = alice.events.filter(isMessage).length;
    await page.selectOption('#send-kind', 'users');
    await page.fill('#send-target', 'alice');
    await page.fill('#send-event', 'notice');
    await page.fill('#send-data', '{"text":"from the dashboard"}');
    await page.click('#send-button');
    const [message] = (await alice.waitFor(before + 1, isMessage)).slice(before);
    assert.equal(message?.event, 'notice');
    assert.equal(message?.data, '{"text":"from the dashboard"}');
    await shows(page, 'send-result', /^sent/);
  });

  test('finding a user shows its connections, and its disconnect button disconnects it', async () => {
    await page.fill('#find-prefix', 'bo');
    await page.click('#find-button');
    const block = page.locator('#find-result [data-user="bob"]');
    await block.waitFor();
    assert.match((await block.textContent()) ?? '', /online, 1 connection/);
    assert.match((await block.textContent()) ?? '', /127\.0\.0\.1/);
    const bob = subscribers[1] as SseConnection;
    await block.locator('button.disconnect').click();
    const [bye] = await bob.waitFor(1, (e) => e.event === 'disconnect');
    assert.equal(JSON.parse(bye?.data ?? '').reason, 'closed-by-server');
    await bob.ended;
    await shows(page, 'connections', /^3$/);
    // Someone published with the publish key meanwhile: the dashboard is not the only writer.
    await publishAs(node.url, TEST_KEYS.publishKey, { to: { all: true }, data: 'after' });
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: `${RESULTS}admin-dashboard.png`, fullPage: true });
    assert.ok(existsSync(`${RESULTS}admin-dashboard.png`));
  });
});
