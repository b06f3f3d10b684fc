import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { launchBrowser } from '../helpers/browser.js';
import { eventually } from '../helpers/eventually.js';
import { getJson, startHerald } from '../helpers/herald.js';

/** The classic tutorial's page, read in place from the shared fixtures (never copied into the repository). */
const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url).pathname;
const PAGE = `${FIXTURES}classic-page.html`;

describe('the classic tutorial page, served as it is', () => {
  test('shows a unicast, a group send and a broadcast, and its close button ends the connection', async (t) => {
    if (!existsSync(PAGE)) {
      if (process.env.CI) throw new Error(`${PAGE} is missing; CI must run this test`);
      t.skip(`${PAGE} not found: the shared fixtures are not next to this checkout`);
      return;
    }
    const browser = await launchBrowser(t);
    if (browser === undefined) return;
    const node = await startHerald({ webRoot: FIXTURES });
    try {
      const page = await browser.newPage();
      await page.goto(`${node.url}/classic-page.html`);
      const message = page.locator('#message');
      await message.getByText('连接成功').waitFor();
      const text = ((await message.textContent()) ?? '').trim();
      const userId = /连接用户=(\d+)/.exec(text)?.[1];
      assert.ok(userId, `the page shows its user id: ${text}`);

      await getJson(`${node.url}/sse/sendMessage?userId=${userId}&message=unicast-ok`);
      await message.getByText('unicast-ok').waitFor();
      await getJson(`${node.url}/sse/groupSendMessage?groupId=${userId.slice(0, 4)}&message=group-ok`);
      await message.getByText('group-ok').waitFor();
      await getJson(`${node.url}/sse/batchSendMessage?message=broadcast-ok`);
      await message.getByText('broadcast-ok').waitFor();
      assert.equal((await getJson(`${node.url}/sse/getUserCount`)).body, 1);

      await page.getByRole('button').click();
      await eventually(
        'the page connection closed',
        async () => (await getJson(`${node.url}/presence`)).body.connections === 0,
      );
      assert.equal((await getJson(`${node.url}/sse/getUserCount`)).body, 0);
    } finally {
      await browser.close();
      await node.close();
    }
  });
});
