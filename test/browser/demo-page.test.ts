import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, screenshotPath } from '../helpers/browser.js';
import { getJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';

describe('the demo page in headless Chromium', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald();
  });
  after(() => node.close());

  test('connects, shows live messages, and sends to a user, a group, a prefix and everyone across tabs', async (t) => {
    const browser = await launchBrowser(t);
    if (browser === undefined) return;
    try {
      const context = await browser.newContext();
      const alice = await context.newPage();
      await alice.goto(`${node.url}/?user=demo-alice&groups=team`);
      const bob = await context.newPage();
      await bob.goto(`${node.url}/?user=demo-bob`);
      for (const page of [alice, bob]) await page.locator('#state', { hasText: 'open' }).waitFor();
      assert.equal((await getJson(`${node.url}/presence`)).body.users, 2);

      // A message published by a backend shows up live.
      await publish(node.url, { to: { users: ['demo-alice'] }, data: 'hello from the backend' });
      await alice.locator('#log li', { hasText: 'hello from the backend' }).waitFor();

      // Bob's page sends to Alice in each addressing mode; Alice's tab receives each.
      const send = async (mode: string, target: string, text: string): Promise<void> => {
        await bob.selectOption('#mode', mode);
        await bob.fill('#target', target);
        await bob.fill('#text', text);
        await bob.click('#send button[type=submit]');
        await bob.locator('#result', { hasText: 'sent' }).waitFor();
        await alice.locator('#log li', { hasText: text }).waitFor();
      };
      await send('users', 'demo-alice', 'to one user');
      await send('groups', 'team', 'to the group');
      await send('userPrefix', 'demo-a', 'to the prefix');
      await send('all', '', 'to everyone');
      await bob.locator('#log li', { hasText: 'to everyone' }).waitFor();
      assert.equal(
        await bob.locator('#log li', { hasText: 'to the group' }).count(),
        0,
        'bob is not in the group',
      );
      await alice.screenshot({ path: await screenshotPath('demo-page') });
    } finally {
      await browser.close();
    }
  });
});
