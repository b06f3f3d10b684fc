import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tokenFor } from '../helpers/auth.js';
import {
  type JsonBody,
  publish,
  startHerald,
  startSecureHerald,
  TEST_KEYS,
  type TestHerald,
} from '../helpers/herald.js';

async function call(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: JsonBody }> {
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Asserts a 4xx problem of `code` whose `field` is `field`. */
function problem(
  answer: { status: number; body: JsonBody },
  status: number,
  code: string,
  field?: string,
): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.type, `/problems/${code}`);
  if (field !== undefined) assert.equal(answer.body.field, field);
}

describe('inbox and server-side groups: bad input', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({ inboxMaxTtlMs: 3_600_000 });
  });
  after(() => node.close());

  test('a ttl that is not a whole number of seconds from 1 to --inbox-max-ttl is a 400 naming ttl', async () => {
    for (const ttl of [0, -5, 1.5, '60', null, true]) {
      const answer = await call('POST', `${node.url}/messages`, { to: { users: ['u'] }, data: 'x', ttl });
      problem(answer, 400, 'invalid-request', 'ttl');
    }
    const tooLong = await call('POST', `${node.url}/messages`, {
      to: { users: ['u'] },
      data: 'x',
      ttl: 3601,
    });
    problem(tooLong, 400, 'invalid-request', 'ttl');
    assert.equal(tooLong.body.maxTtl, 3600);
    assert.match(tooLong.body.detail, /at most 3600 seconds \(--inbox-max-ttl\)/);
    const inBatch = await call('POST', `${node.url}/messages`, [
      { to: { all: true }, data: 'ok', ttl: 10 },
      { to: { all: true }, data: 'bad', ttl: -1 },
    ]);
    problem(inBatch, 400, 'invalid-request', '[1].ttl');
  });

  test('unknown users are fine: their inbox waits, and an unknown id acknowledges nothing', async () => {
    assert.equal(
      (await call('POST', `${node.url}/messages`, { to: { users: ['nobody-yet'] }, data: 'x', ttl: 60 }))
        .status,
      202,
    );
    const listed = await call('GET', `${node.url}/users/never-seen/inbox`);
    assert.deepEqual(listed, { status: 200, body: { user: 'never-seen', unread: 0, messages: [] } });
    const ack = await call('POST', `${node.url}/inbox/ack?user=never-seen`, {
      ids: ['no-such-message', '1-1'],
    });
    assert.deepEqual(ack, {
      status: 200,
      body: { acked: 0, unread: 0, unknown: ['no-such-message', '1-1'] },
    });
    assert.deepEqual((await call('GET', `${node.url}/users/never-seen/groups`)).body, {
      user: 'never-seen',
      groups: [],
    });
  });

  test('a malformed acknowledgement is a 400 naming what is wrong', async () => {
    const ack = (body: unknown) => call('POST', `${node.url}/inbox/ack?user=u`, body);
    problem(await ack([]), 400, 'invalid-request', '(body)');
    problem(await ack({}), 400, 'invalid-request', '(body)');
    problem(await ack({ through: 'a', ids: ['b'] }), 400, 'invalid-request', '(body)');
    problem(await ack({ upTo: 'a' }), 400, 'invalid-request', 'upTo');
    problem(await ack({ through: 12 }), 400, 'invalid-request', 'through');
    problem(await ack({ through: 'a\nb' }), 400, 'invalid-request', 'through');
    problem(await ack({ ids: [] }), 400, 'invalid-request', 'ids');
    problem(await ack({ ids: 'a' }), 400, 'invalid-request', 'ids');
    problem(await ack({ ids: ['ok', 'x'.repeat(129)] }), 400, 'invalid-request', 'ids[1]');
    problem(await ack('{"ids": ['), 400, 'malformed-json');
    problem(await call('GET', `${node.url}/inbox?user=u&limit=0`), 400, 'invalid-request', 'limit');
  });

  test("acknowledging another user's message is refused with not-addressed, and acknowledges nothing", async () => {
    const theirs = await publish(node.url, { to: { users: ['owner'] }, data: 'private', ttl: 60 });
    const toGroup = await publish(node.url, { to: { groups: ['staff'] }, data: 'staff only', ttl: 60 });
    const refused = await call('POST', `${node.url}/inbox/ack?user=intruder`, { ids: [theirs, toGroup] });
    problem(refused, 403, 'not-addressed', 'ids');
    assert.deepEqual(refused.body.ids, [theirs, toGroup]);
    problem(
      await call('POST', `${node.url}/inbox/ack?user=intruder`, { through: theirs }),
      403,
      'not-addressed',
      'through',
    );
    assert.equal((await call('GET', `${node.url}/users/owner/inbox`)).body.unread, 1);
    // A member of the group (by its connection's own groups) may.
    const member = await call('POST', `${node.url}/inbox/ack?user=intruder&group=staff`, { ids: [toGroup] });
    assert.deepEqual(member.body, { acked: 1, unread: 0, unknown: [] });
  });

  test('bad server-side group changes are a 400 naming the field', async () => {
    const groups = `${node.url}/users/u/groups`;
    problem(await call('PUT', groups, {}), 400, 'invalid-request', 'groups');
    problem(await call('PUT', groups, { groups: 'a' }), 400, 'invalid-request', 'groups');
    problem(await call('PUT', groups, { groups: ['ok', 'not ok'] }), 400, 'invalid-request', 'groups[1]');
    problem(await call('PUT', groups, { groups: ['a'], extra: 1 }), 400, 'invalid-request', 'extra');
    const many = Array.from({ length: 257 }, (_, i) => `g${i}`);
    problem(await call('PUT', groups, { groups: many }), 400, 'invalid-request', 'groups');
    problem(await call('PATCH', groups, {}), 400, 'invalid-request', '(body)');
    problem(await call('PATCH', groups, { add: [7] }), 400, 'invalid-request', 'add[0]');
    problem(
      await call('PUT', `${node.url}/users/bad%20id/groups`, { groups: [] }),
      400,
      'invalid-request',
      'id',
    );
  });
});

describe('inbox and server-side groups: credentials', () => {
  let node: TestHerald;
  before(async () => {
    node = await startSecureHerald();
  });
  after(() => node.close());

  test("a subscriber reads and acknowledges its own inbox only; publishers read and clear anyone's", async () => {
    const id = await call(
      'POST',
      `${node.url}/messages`,
      { to: { users: ['tess'] }, data: 'x', ttl: 60 },
      {
        authorization: `Bearer ${TEST_KEYS.publishKey}`,
      },
    );
    const tess = { authorization: `Bearer ${await tokenFor('tess')}` };
    problem(await call('GET', `${node.url}/inbox`), 401, 'unauthorized');
    assert.equal((await call('GET', `${node.url}/inbox`, undefined, tess)).body.unread, 1);
    problem(await call('GET', `${node.url}/inbox?user=other`, undefined, tess), 403, 'forbidden', 'user');
    problem(await call('GET', `${node.url}/users/tess/inbox`, undefined, tess), 403, 'forbidden');
    problem(await call('PUT', `${node.url}/users/tess/groups`, { groups: ['a'] }, tess), 403, 'forbidden');
    const ack = await call('POST', `${node.url}/inbox/ack`, { ids: [id.body.id] }, tess);
    assert.equal(ack.body.acked, 1);
    const publisher = { authorization: `Bearer ${TEST_KEYS.publishKey}` };
    assert.deepEqual((await call('DELETE', `${node.url}/users/tess/inbox`, undefined, publisher)).body, {
      user: 'tess',
      cleared: 0,
    });
  });
});
