import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { postJson, publish, startHerald, type TestHerald } from '../helpers/herald.js';

/** Opens a real EventSource and collects `message` events until `count` arrived. */
function receive(
  url: string,
  count: number,
): { ready: Promise<void>; messages: Promise<MessageEvent[]>; close: () => void } {
  const source = new EventSource(url);
  const got: MessageEvent[] = [];
  let resolveMessages: (events: MessageEvent[]) => void = () => {};
  const messages = new Promise<MessageEvent[]>((resolve) => (resolveMessages = resolve));
  const ready = new Promise<void>((resolve) => source.addEventListener('connected', () => resolve()));
  const onMessage = (event: MessageEvent): void => {
    got.push(event);
    if (got.length === count) resolveMessages(got);
  };
  source.addEventListener('message', onMessage);
  source.addEventListener('note', onMessage);
  return { ready, messages, close: () => source.close() };
}

describe('encoding through a real EventSource', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald();
  });
  after(() => node.close());

  test('multi-line, empty, unicode and JSON data arrive exactly as the spec says', async () => {
    const payloads: unknown[] = [
      'line 1\nline 2\r\nline 3\rline 4',
      '',
      '世界 🚀 连接成功',
      ' leading',
      { a: [1, 'x\ny'] },
      42,
      null,
    ];
    const client = receive(`${node.url}/events?user=enc`, payloads.length);
    await client.ready;
    for (const data of payloads) await publish(node.url, { to: { users: ['enc'] }, data });
    const events = await client.messages;
    client.close();
    assert.deepEqual(
      events.map((e) => e.data),
      [
        'line 1\nline 2\nline 3\nline 4',
        '',
        '世界 🚀 连接成功',
        ' leading',
        '{"a":[1,"x\\ny"]}',
        '42',
        'null',
      ],
    );
    for (const event of events) assert.ok(event.lastEventId !== '', 'every message has an id');
  });

  test('an event name reaches the listener for that name', async () => {
    const client = receive(`${node.url}/events?user=named`, 1);
    await client.ready;
    await publish(node.url, { to: { users: ['named'] }, event: 'note', data: 'hi' });
    const [event] = await client.messages;
    client.close();
    assert.equal(event?.type, 'note');
  });

  for (const [field, value] of [
    ['event', 'evil\ndata: injected'],
    ['event', 'evil\r'],
    ['id', 'x\ny'],
    ['id', 'x\rretry: 1'],
  ] as const) {
    test(`an ${field} containing CR or LF is refused with 400 (${JSON.stringify(value)})`, async () => {
      const { status, body } = await postJson(`${node.url}/messages`, {
        to: { all: true },
        [field]: value,
        data: 'x',
      });
      assert.equal(status, 400);
      assert.equal(body.field, field);
      assert.match(body.detail, /CR, LF/);
    });
  }

  test('reserved event names are refused, so control events cannot be spoofed', async () => {
    for (const event of ['gap', 'connected', 'disconnect']) {
      const { status, body } = await postJson(`${node.url}/messages`, {
        to: { all: true },
        event,
        data: 'x',
      });
      assert.equal(status, 400);
      assert.match(body.detail, /reserved/);
    }
  });
});
