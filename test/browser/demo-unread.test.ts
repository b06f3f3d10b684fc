import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, screenshotPath } from '../helpers/browser.js';
import { getJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';

describe('the demo page shows unread inbox messages (headless Chromium)', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald();
  });
  after(() => node.close());

  test('messages that waited show as an unread count, which clicking marks read on every device', async (t) => {
    const browser = await launchBrowser(t);
    if (browser === undefined) return;
    try {
      await publish(node.url, { to: { users: ['demo-unread'] }, data: 'your order shipped', ttl: 3600 });
      await publish(node.url, { to: { all: true }, data: 'maintenance tonight', ttl: 3600 });
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${node.url}/?user=demo-unread`);
      await page.locator('#log li', { hasText: 'your order shipped' }).waitFor();
      await page.locator('#unread', { hasText: '2 unread' }).waitFor();
      await page.screenshot({ path: await screenshotPath('demo-unread') });
      await page.click('#unread');
      await page.locator('#unread').waitFor({ state: 'hidden' });
      assert.equal((await getJson(`${node.url}/users/demo-unread/inbox`)).body.unread, 0);
    } finally {
      await browser.close();
    }
  });
});
