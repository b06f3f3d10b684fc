import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { publishAs, tokenFor } from '../helpers/auth.js';
import {
  allTabs,
  launchChromium,
  newContext,
  openTab,
  serveToken,
  startClient,
  view,
} from '../helpers/browser.js';
import { eventually } from '../helpers/eventually.js';
import { publish, startHerald, startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';

/** What a tab keeps to replay to a reloading tab (`HISTORY_LIMIT` in client/src/index.ts). */
const HISTORY_LIMIT = 500;

describe('tabs sharing one connection in headless Chromium', () => {
  let browser: Browser;
  let node: TestHerald;
  let context: BrowserContext;
  before(async () => {
    browser = await launchChromium();
  });
  after(() => browser.close());

  /** A fresh node and browser context per test; closed by `finish`. */
  async function setUp(secure: boolean): Promise<void> {
    node = secure ? await startSecureHerald({ retryMs: 200 }) : await startHerald({ retryMs: 200 });
    context = await newContext(browser);
  }
  async function finish(): Promise<void> {
    await context.close();
    await node.close();
  }
  const send = (message: Record<string, unknown>): Promise<string> =>
    publishAs(node.url, TEST_KEYS.publishKey, message);

  test('a tab without groups keeps all of its token groups when another tab asks for fewer', async () => {
    await setUp(true);
    try {
      await serveToken(context, '/__token', () => tokenFor('painter', { groups: ['red', 'blue'] }));
      const everything = await openTab(context, node.url, { tokenUrl: '/__token' });
      const onlyRed = await openTab(context, node.url, { tokenUrl: '/__token', groups: ['red'] });
      await allTabs('both open', [everything, onlyRed], (v) => v.state === 'open');
      const blue = await send({ to: { groups: ['blue'] }, data: 'blue' });
      const red = await send({ to: { groups: ['red'] }, data: 'red' });
      const last = await send({ to: { users: ['painter'] }, data: 'last' });
      await allTabs('both got the last one', [everything, onlyRed], (v) => v.ids.includes(last));
      assert.deepEqual((await view(everything)).ids, [blue, red, last]);
      assert.deepEqual((await view(onlyRed)).ids, [red, last]);
    } finally {
      await finish();
    }
  });

  test('a tab refused a group its token lacks is closed and told; the other tabs go on', async () => {
    await setUp(true);
    try {
      await serveToken(context, '/__token', () => tokenFor('guest', { groups: ['red'] }));
      const allowed = await openTab(context, node.url, { tokenUrl: '/__token', groups: ['red'] });
      await allTabs('open', [allowed], (v) => v.state === 'open');
      const greedy = await openTab(context, node.url, { tokenUrl: '/__token', groups: ['secret'] });
      await allTabs('the greedy tab is closed', [greedy], (v) => v.state === 'closed');
      assert.match((await view(greedy)).errors.join(), /403/);
      const red = await send({ to: { groups: ['red'] }, data: 'red' });
      await allTabs('the allowed tab still receives', [allowed], (v) => v.ids.includes(red));
      assert.equal((await view(allowed)).state, 'open');
    } finally {
      await finish();
    }
  });

  test('a leader tab refused its groups lets go: a tab opened after it connects', async () => {
    await setUp(true);
    try {
      await serveToken(context, '/__token', () => tokenFor('guest', { groups: ['red'] }));
      const greedy = await openTab(context, node.url, { tokenUrl: '/__token', groups: ['secret'] });
      await allTabs('the greedy tab is closed', [greedy], (v) => v.state === 'closed');
      const allowed = await openTab(context, node.url, { tokenUrl: '/__token', groups: ['red'] });
      await allTabs('the next tab connects', [allowed], (v) => v.state === 'open');
      const red = await send({ to: { groups: ['red'] }, data: 'red' });
      await allTabs('and receives', [allowed], (v) => v.ids.includes(red));
    } finally {
      await finish();
    }
  });

  test('after Herald closes every connection of the user, a tab opened later connects', async () => {
    await setUp(false);
    try {
      const options = { user: 'evicted' };
      const pages = [await openTab(context, node.url, options), await openTab(context, node.url, options)];
      await allTabs('both open', pages, (v) => v.state === 'open');
      const closed = await fetch(`${node.url}/users/evicted/connections`, { method: 'DELETE' });
      assert.equal(closed.status, 200);
      await allTabs('both closed', pages, (v) => v.state === 'closed');
      const later = await openTab(context, node.url, options);
      await allTabs('the later tab connects', [later], (v) => v.state === 'open');
    } finally {
      await finish();
    }
  });

  test("tabs of different users never share a connection: neither sees the other's messages", async () => {
    await setUp(true);
    try {
      await serveToken(context, '/__token/alice', () => tokenFor('alice'));
      await serveToken(context, '/__token/bob', () => tokenFor('bob'));
      const alice = await openTab(context, node.url, { tokenUrl: '/__token/alice' });
      const bob = await openTab(context, node.url, { tokenUrl: '/__token/bob' });
      await allTabs('both open', [alice, bob], (v) => v.state === 'open');
      const toAlice = await send({ to: { users: ['alice'] }, data: 'for alice' });
      const toBob = await send({ to: { users: ['bob'] }, data: 'for bob' });
      const everyone = await send({ to: { all: true }, data: 'for everyone' });
      await allTabs('both got the broadcast', [alice, bob], (v) => v.ids.includes(everyone));
      assert.deepEqual((await view(alice)).ids, [toAlice, everyone]);
      assert.deepEqual((await view(bob)).ids, [toBob, everyone]);
      assert.equal(node.herald.hub.connectionCount, 2, 'one connection per user');
    } finally {
      await finish();
    }
  });

  test('a follower tab that reloads receives what the leader relayed while it reloaded', async () => {
    await setUp(false);
    try {
      const options = { user: 'reloader' };
      const leader = await openTab(context, node.url, options);
      const follower = await openTab(context, node.url, options);
      await allTabs('both open', [leader, follower], (v) => v.state === 'open');
      assert.ok((await view(leader)).leader, 'the first tab leads');
      const to = { users: ['reloader'] };
      const first = await publish(node.url, { to, data: 1 });
      await allTabs('both got the first', [leader, follower], (v) => v.ids.includes(first));
      await follower.reload();
      const during = [await publish(node.url, { to, data: 2 }), await publish(node.url, { to, data: 3 })];
      await allTabs('the leader relayed them', [leader], (v) => v.ids.length === 3);
      await startClient(follower, options);
      await allTabs('reloaded tab open', [follower], (v) => v.state === 'open');
      const afterwards = await publish(node.url, { to, data: 4 });
      await allTabs('the reloaded tab got the new one', [follower], (v) => v.ids.includes(afterwards));
      const seen = await view(follower);
      assert.deepEqual(seen.ids, [...during, afterwards]);
      assert.deepEqual(seen.gaps, []);
    } finally {
      await finish();
    }
  });

  test('a follower tab that reloads past what the leader keeps is told of the gap', async () => {
    await setUp(false);
    try {
      const options = { user: 'slow-reloader' };
      const leader = await openTab(context, node.url, options);
      const follower = await openTab(context, node.url, options);
      await allTabs('both open', [leader, follower], (v) => v.state === 'open');
      const to = { users: ['slow-reloader'] };
      const first = await publish(node.url, { to, data: 0 });
      await allTabs('both got the first', [leader, follower], (v) => v.ids.includes(first));
      await follower.reload();
      for (let i = 1; i <= HISTORY_LIMIT + 1; i++) await publish(node.url, { to, data: i });
      await allTabs('the leader relayed them', [leader], (v) => v.ids.length === HISTORY_LIMIT + 2);
      await startClient(follower, options);
      // Joining the leader is asynchronous: a message relayed before the tab joined is behind the leader's
      // position it goes on from, so publish only once it was told of the gap (it joined).
      await allTabs('the reloaded tab was told of the gap', [follower], (v) => v.gaps.length === 1);
      const afterwards = await publish(node.url, { to, data: 'after' });
      await allTabs('the reloaded tab got the new one', [follower], (v) => v.ids.includes(afterwards));
      const seen = await view(follower);
      assert.deepEqual(seen.ids, [afterwards]);
      assert.deepEqual(seen.gaps, [{ reason: 'expired', lastEventId: first }]);
    } finally {
      await finish();
    }
  });

  test('on the EventSource fallback each tab receives only its own groups', async () => {
    await setUp(false);
    try {
      const red = await openTab(context, node.url, { user: 'es', groups: ['red'], transport: 'eventsource' });
      const blue = await openTab(context, node.url, {
        user: 'es',
        groups: ['blue'],
        transport: 'eventsource',
      });
      await allTabs('both open', [red, blue], (v) => v.state === 'open');
      await eventually('both groups subscribed', () => {
        const hub = node.herald.hub;
        return hub.connectionsInGroup('red') > 0 && hub.connectionsInGroup('blue') > 0;
      });
      const toRed = await publish(node.url, { to: { groups: ['red'] }, data: 'red' });
      const toBlue = await publish(node.url, { to: { groups: ['blue'] }, data: 'blue' });
      const last = await publish(node.url, { to: { users: ['es'] }, data: 'last' });
      await allTabs('both got the last one', [red, blue], (v) => v.ids.includes(last));
      assert.deepEqual((await view(red)).ids, [toRed, last]);
      assert.deepEqual((await view(blue)).ids, [toBlue, last]);
    } finally {
      await finish();
    }
  });
});
