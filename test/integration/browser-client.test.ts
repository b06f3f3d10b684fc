import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { publishAs, tokenFor } from '../helpers/auth.js';
import {
  allTabs,
  launchChromium,
  newContext,
  openTab,
  startBlockingProxy,
  view,
} from '../helpers/browser.js';
import { eventually } from '../helpers/eventually.js';
import { getJson, publish, startHerald, startSecureHerald, TEST_KEYS } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

describe('the browser client in headless Chromium', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(() => browser.close());

  test('10 tabs share one connection; each sees the broadcasts and only its own groups', async () => {
    const node = await startHerald();
    const context = await newContext(browser);
    try {
      const pages: Page[] = [];
      for (let i = 0; i < 10; i++) {
        pages.push(await openTab(context, node.url, { user: 'tabby', groups: [i % 2 ? 'blue' : 'red'] }));
      }
      await allTabs('all tabs open', pages, (v) => v.state === 'open');
      await eventually('one connection with both groups', () => {
        const hub = node.herald.hub;
        return (
          hub.connectionCount === 1 && hub.connectionsInGroup('red') > 0 && hub.connectionsInGroup('blue') > 0
        );
      });
      const everyone = await publish(node.url, { to: { all: true }, data: { hello: 'everyone' } });
      const red = await publish(node.url, { to: { groups: ['red'] }, data: 'red only' });
      const direct = await publish(node.url, { to: { users: ['tabby'] }, data: 'to the user' });
      await allTabs('every tab got its messages', pages, (v) => v.ids.includes(direct));
      const views = await Promise.all(pages.map(view));
      views.forEach((v, i) => {
        assert.deepEqual(v.ids, i % 2 ? [everyone, direct] : [everyone, red, direct], `tab ${i}`);
        assert.deepEqual(v.data[0], { hello: 'everyone' });
      });
      assert.equal(views.filter((v) => v.leader).length, 1, 'one leader');
      const presence = await getJson(`${node.url}/presence`);
      assert.deepEqual(presence.body, { connections: 1, users: 1 });
    } finally {
      await context.close();
      await node.close();
    }
  });

  test('closing the leader tab hands over with no lost or duplicated message', async () => {
    const node = await startHerald({ retryMs: 200 });
    const context = await newContext(browser);
    try {
      const pages: Page[] = [];
      for (let i = 0; i < 3; i++) pages.push(await openTab(context, node.url, { user: 'handover' }));
      await allTabs('open', pages, (v) => v.state === 'open');
      const views = await Promise.all(pages.map(view));
      const leader = pages[views.findIndex((v) => v.leader)] as Page;
      const followers = pages.filter((p) => p !== leader);
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        if (i === 15) await leader.close();
        ids.push(await publish(node.url, { to: { users: ['handover'] }, data: i }));
      }
      await allTabs('followers got all 40', followers, (v) => v.ids.length >= 40);
      for (const follower of followers) assert.deepEqual((await view(follower)).ids, ids);
      const after = await Promise.all(followers.map(view));
      assert.equal(after.filter((v) => v.leader).length, 1, 'a follower took over');
      await eventually('still one connection', () => node.herald.hub.connectionCount === 1);
    } finally {
      await context.close();
      await node.close();
    }
  });

  test('survives a server restart: reconnects, reports the gap, goes on', async () => {
    let node = await startHerald({ retryMs: 200 });
    const port = Number(new URL(node.url).port);
    const context = await newContext(browser);
    try {
      const page = await openTab(context, node.url, { user: 'phoenix' });
      await allTabs('open', [page], (v) => v.state === 'open');
      const before = await publish(node.url, { to: { users: ['phoenix'] }, data: 'before' });
      await allTabs('got it', [page], (v) => v.ids.includes(before));
      await node.close();
      await allTabs('reconnecting', [page], (v) => v.state === 'connecting');
      node = await startHerald({ retryMs: 200, port });
      await allTabs('open again', [page], (v) => v.state === 'open' && v.gaps.length === 1);
      const after = await publish(node.url, { to: { users: ['phoenix'] }, data: 'after' });
      await allTabs('got the new one', [page], (v) => v.ids.includes(after));
      const seen = await view(page);
      assert.deepEqual(seen.data, ['before', 'after']);
      assert.equal((seen.gaps[0] as { reason: string }).reason, 'unknown-id');
      assert.deepEqual(seen.disconnects, [{ reason: 'shutdown', reconnect: true }]);
    } finally {
      await context.close();
      await node.close();
    }
  });

  test('an expired token is refreshed through getToken, and nothing is missed', async () => {
    const node = await startSecureHerald({ jwtClockSkewMs: 0, retryMs: 200 });
    const context = await newContext(browser);
    let minted = 0;
    await context.route('**/__token', async (route) => {
      minted++;
      route.fulfill({ contentType: 'text/plain', body: await tokenFor('tok', { ttlMs: 2000 }) });
    });
    try {
      const page = await openTab(context, node.url, { tokenUrl: '/__token' });
      await allTabs('open', [page], (v) => v.state === 'open');
      const first = await publishAs(node.url, TEST_KEYS.publishKey, { to: { users: ['tok'] }, data: 1 });
      await allTabs('expired and refreshed', [page], (v) => v.disconnects.length >= 1, 15_000);
      const second = await publishAs(node.url, TEST_KEYS.publishKey, { to: { users: ['tok'] }, data: 2 });
      await allTabs('both received', [page], (v) => v.ids.includes(second), 10_000);
      const seen = await view(page);
      assert.deepEqual(seen.ids, [first, second]);
      assert.deepEqual(seen.disconnects[0], { reason: 'token-expired', reconnect: true });
      assert.deepEqual(seen.gaps, []);
      assert.ok(minted >= 2, `getToken was called again (${minted} tokens)`);
    } finally {
      await context.close();
      await node.close();
    }
  });

  test('when a proxy holds the stream back it long-polls: same messages, same order; then streams again', async () => {
    const node = await startHerald({ pollTimeoutMs: 5000 });
    const proxy = await startBlockingProxy(node.url);
    const context = await newContext(browser);
    try {
      const reference = await openSse(`${node.url}/events?user=polly`);
      const page = await openTab(context, proxy.url, {
        user: 'polly',
        streamTimeout: 1000,
        retryStreamAfter: 3000,
      });
      await allTabs('long-polling', [page], (v) => v.state === 'open' && v.transport === 'poll');
      assert.ok(proxy.held >= 1, 'the stream was held back');
      const ids: string[] = [];
      for (let i = 0; i < 10; i++)
        ids.push(await publish(node.url, { to: { users: ['polly'] }, data: { i } }));
      await allTabs('ten by polling', [page], (v) => v.ids.length === 10);
      const direct = await reference.waitFor(10, isMessage);
      assert.deepEqual((await view(page)).ids, ids);
      assert.deepEqual(
        direct.map((e) => e.id),
        ids,
      );
      proxy.blocking = false;
      await allTabs('streaming again', [page], (v) => v.transport === 'fetch' && v.state === 'open', 15_000);
      for (let i = 10; i < 15; i++)
        ids.push(await publish(node.url, { to: { users: ['polly'] }, data: { i } }));
      await allTabs('fifteen', [page], (v) => v.ids.length >= 15);
      const seen = await view(page);
      assert.deepEqual(seen.ids, ids);
      assert.deepEqual(
        seen.data,
        ids.map((_, i) => ({ i })),
      );
      reference.close();
    } finally {
      await context.close();
      await proxy.close();
      await node.close();
    }
  });
});
