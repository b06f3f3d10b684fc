import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Problems } from '../../src/errors.js';
import {
  getJson,
  type JsonBody,
  postJson,
  publish,
  startHerald,
  type TestHerald,
} from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

const PROBLEM_JSON = /^application\/problem\+json/;

describe('bad input gets a precise problem, logged once, and loses nothing', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald();
  });
  after(() => node.close());

  /** Log lines about one rejected request. */
  const rejections = (detail: RegExp): unknown[] =>
    node.logs.filter((line) => line.msg === 'request rejected' && detail.test(String(line.detail)));

  test('a body over the limit (64 KiB by default) is a 413 problem', async () => {
    const response = await fetch(`${node.url}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: { all: true }, data: 'x'.repeat(70 * 1024) }),
    });
    assert.equal(response.status, 413);
    assert.match(response.headers.get('content-type') ?? '', PROBLEM_JSON);
    const body = (await response.json()) as JsonBody;
    assert.equal(body.type, '/problems/body-too-large');
    assert.equal(body.status, 413);
  });

  test('malformed JSON is a 400 malformed-json problem, logged once', async () => {
    const { status, body } = await postJson(`${node.url}/messages`, '{"to": {"all": true}, "data": ');
    assert.equal(status, 400);
    assert.equal(body.type, '/problems/malformed-json');
    assert.equal(body.title, Problems.malformedJson.title);
    assert.equal(rejections(/JSON/).length, 1, 'exactly one log line for the rejection');
  });

  test('an unknown field is a 400 naming it', async () => {
    const { status, body } = await postJson(`${node.url}/messages`, {
      to: { all: true },
      data: 'x',
      priority: 1,
    });
    assert.equal(status, 400);
    assert.equal(body.field, 'priority');
    assert.match(body.detail, /unknown field "priority"/);
    const nested = await postJson(`${node.url}/messages`, { to: { all: true, everyone: true }, data: 'x' });
    assert.equal(nested.status, 400);
    assert.equal(nested.body.field, 'to.everyone');
  });

  test('a message without recipients or data is a 400 that says what is missing', async () => {
    const noTarget = await postJson(`${node.url}/messages`, { to: {}, data: 'x' });
    assert.equal(noTarget.status, 400);
    assert.match(noTarget.body.detail, /names no recipient/);
    const noData = await postJson(`${node.url}/messages`, { to: { all: true } });
    assert.equal(noData.status, 400);
    assert.equal(noData.body.field, 'data');
    const badUser = await postJson(`${node.url}/messages`, { to: { users: ['ok', 'bad user'] }, data: 'x' });
    assert.equal(badUser.body.field, 'to.users[1]');
    const badBatch = await postJson(`${node.url}/messages`, [
      { to: { all: true }, data: 1 },
      { to: { all: 1 }, data: 2 },
    ]);
    assert.equal(badBatch.status, 400);
    assert.equal(badBatch.body.field, '[1].to.all');
  });

  test('a body that is not JSON is a 415', async () => {
    const response = await fetch(`${node.url}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(response.status, 415);
    assert.equal(((await response.json()) as JsonBody).type, '/problems/unsupported-media-type');
  });

  test('an unknown route is a 404 problem', async () => {
    const { status, type, body } = await getJson(`${node.url}/no/such/route?x=1`);
    assert.equal(status, 404);
    assert.match(type, PROBLEM_JSON);
    assert.equal(body.detail, 'no route GET /no/such/route');
  });

  test('a rejected batch is rejected whole: nothing of it is published', async () => {
    const stream = await openSse(`${node.url}/events?user=atomic`);
    await stream.waitFor(1);
    const rejected = await postJson(`${node.url}/messages`, [
      { to: { users: ['atomic'] }, data: 'first' },
      { to: { users: ['atomic'] }, event: 'bad\nname', data: 'second' },
    ]);
    assert.equal(rejected.status, 400);
    await publish(node.url, { to: { users: ['atomic'] }, data: 'marker' });
    const [first] = await stream.waitFor(1, isMessage);
    assert.equal(first?.data, 'marker');
    stream.close();
  });

  test('a flood of garbage leaves the server up and accepted messages delivered', async () => {
    const stream = await openSse(`${node.url}/events?user=survivor`);
    await stream.waitFor(1);
    const garbage = [
      '{',
      '[]',
      '[1]',
      'null',
      '"x"',
      '{"to":null}',
      '{"to":{"users":"x"},"data":1}',
      '\u0000',
    ];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        postJson(`${node.url}/messages`, garbage[i % garbage.length] as string),
      ),
    );
    for (const { status } of results) assert.ok(status >= 400 && status < 500, `status ${status}`);
    await publish(node.url, { to: { users: ['survivor'] }, data: 'still alive' });
    assert.equal((await stream.waitFor(1, isMessage))[0]?.data, 'still alive');
    stream.close();
  });

  test("a problem's type resolves to a page of this Herald that explains it", async () => {
    const response = await fetch(`${node.url}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"to":',
    });
    const body = (await response.json()) as JsonBody;
    assert.equal(body.type, '/problems/malformed-json');
    const page = await fetch(new URL(body.type, response.url));
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const text = await page.text();
    assert.match(text, /<h1>The body is not valid JSON<\/h1>/);
    assert.match(text, /HTTP 400/);
    assert.match(text, /the body is not JSON, or is empty/);
  });

  test('/problems/ lists every problem type, and an unknown one is a 404 problem', async () => {
    const index = await (await fetch(`${node.url}/problems/`)).text();
    for (const type of Object.values(Problems))
      assert.ok(index.includes(`/problems/${type.code}"`), type.code);
    const unknown = await getJson(`${node.url}/problems/no-such-thing`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.type, PROBLEM_JSON);
    assert.equal(unknown.body.type, '/problems/not-found');
  });

  test('docs/api.md lists every problem code of the catalogue with its status and when, and no other', async () => {
    const docs = await readFile(new URL('../../../docs/api.md', import.meta.url), 'utf8');
    const documented = new Set(
      [...docs.matchAll(/^\|\s*`([a-z-]+)`\s*\|\s*(\d{3})\s*\|(.*)\|\s*$/gm)].map(
        (m) => `${m[1]} ${m[2]} ${m[3]?.trim()}`,
      ),
    );
    const catalogue = new Set(Object.values(Problems).map((p) => `${p.code} ${p.status} ${p.when}`));
    assert.deepEqual(
      [...catalogue].filter((c) => !documented.has(c)),
      [],
      'codes missing from docs/api.md',
    );
    assert.deepEqual(
      [...documented].filter((c) => !catalogue.has(c)),
      [],
      'codes in docs/api.md but not in errors.ts',
    );
  });
});
