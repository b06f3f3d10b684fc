import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { publishAs, tokenFor } from '../helpers/auth.js';
import { launchBrowser, screenshotPath } from '../helpers/browser.js';
import {
  getJson,
  publish,
  startHerald,
  startSecureHerald,
  TEST_KEYS,
  type TestHerald,
} from '../helpers/herald.js';

/** The time, event, addressee and data the page shows for the message whose data is `data`. */
async function shown(page: Page, data: string): Promise<{ time: string; event: string; to: string }> {
  const row = page.locator('#log li.message', { has: page.locator('.data', { hasText: data }) });
  await row.waitFor();
  return {
    time: (await row.locator('time').textContent()) ?? '',
    event: (await row.locator('.event').textContent()) ?? '',
    to: (await row.locator('.to').textContent()) ?? '',
  };
}

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

  test('each message shows its time, its event and what it was addressed to; one line says connected', async (t) => {
    const browser = await launchBrowser(t);
    if (browser === undefined) return;
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${node.url}/?user=demo-carol&groups=team,news`);
      await page.locator('#state', { hasText: 'open' }).waitFor();
      const connected = page.locator('#log li.connected');
      assert.equal(await connected.count(), 1);
      assert.match((await connected.textContent()) ?? '', /connected as demo-carol in team, news/);

      await publish(node.url, { to: { users: ['demo-carol'] }, data: 'to carol' });
      await publish(node.url, { to: { groups: ['team'] }, event: 'order', data: { total: 12 } });
      await publish(node.url, { to: { groups: ['news'], users: ['demo-dan'] }, data: 'news and dan' });
      await publish(node.url, { to: { all: true }, event: 'notice', data: 'to all' });
      // The page's own form names an event too.
      await page.selectOption('#mode', 'groups');
      await page.fill('#target', 'team');
      await page.fill('#event', 'chat');
      await page.fill('#text', 'from the form');
      await page.click('#send button[type=submit]');

      const clock = /^\d\d:\d\d:\d\d$/;
      const rows = {
        carol: await shown(page, 'to carol'),
        order: await shown(page, '{"total":12}'),
        news: await shown(page, 'news and dan'),
        all: await shown(page, 'to all'),
        form: await shown(page, 'from the form'),
      };
      for (const row of Object.values(rows)) assert.match(row.time, clock);
      assert.deepEqual(
        Object.fromEntries(Object.entries(rows).map(([name, row]) => [name, `${row.event} ${row.to}`])),
        {
          carol: 'message you',
          order: 'order group team',
          news: 'message group news + users',
          all: 'notice you',
          form: 'chat group team',
        },
      );
      // Messages come and go; the connected line stays the only one.
      assert.equal(await connected.count(), 1);
      await page.screenshot({ path: await screenshotPath('demo-page-messages') });
    } finally {
      await browser.close();
    }
  });
});

describe('the demo page of a production-mode Herald in headless Chromium', () => {
  let node: TestHerald;
  before(async () => {
    node = await startSecureHerald();
  });
  after(() => node.close());

  test('says on the page that it needs a token, then connects and sends with one', async (t) => {
    const browser = await launchBrowser(t);
    if (browser === undefined) return;
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${node.url}/`);
      const notice = page.locator('#notice');
      await notice.waitFor({ state: 'visible' });
      assert.match((await notice.textContent()) ?? '', /production mode: subscribing needs a token/);
      assert.match((await notice.textContent()) ?? '', /HTTP 401/);
      assert.match((await notice.textContent()) ?? '', /herald token --sub/);
      await page.locator('#log li.refused', { hasText: 'HTTP 401' }).waitFor();
      await page.locator('#state', { hasText: 'closed' }).waitFor();
      await page.screenshot({ path: await screenshotPath('demo-page-production') });

      // What the notice says: paste a token minted with the secret (here with the publish claim) and connect.
      await page.fill('#token', await tokenFor('erin', { groups: ['team'], publish: true }));
      await page.click('#subscribe button[type=submit]');
      await page.locator('#state', { hasText: 'open' }).waitFor();
      assert.equal(await notice.isVisible(), false, 'the notice goes once connected');
      await page.locator('#log li.connected', { hasText: 'connected with a token' }).waitFor();

      await publishAs(node.url, TEST_KEYS.publishKey, { to: { groups: ['team'] }, data: 'for the team' });
      assert.equal((await shown(page, 'for the team')).to, 'group team');
      await page.selectOption('#mode', 'users');
      await page.fill('#target', 'erin');
      await page.fill('#text', 'sent with the token');
      await page.click('#send button[type=submit]');
      await page.locator('#result', { hasText: 'sent' }).waitFor();
      assert.equal((await shown(page, 'sent with the token')).to, 'you');
    } finally {
      await browser.close();
    }
  });
});
