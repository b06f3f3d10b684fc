import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Router } from '../../src/core/router.js';
import { type Encoder, type Sink, Subscription } from '../../src/core/subscription.js';
import {
  ALL,
  addressedTo,
  groupTopic,
  parseTopic,
  prefixTopic,
  userTopic,
} from '../../src/protocol/topics.js';
import { groupsOf } from '../../src/protocol/wire.js';

const sink: Sink = { write() {}, bufferedBytes: 0, drained: () => Promise.resolve(), end() {} };
const encoder: Encoder = { message: () => Buffer.alloc(0), gap: () => Buffer.alloc(0) };
const info = { transport: 'test', remoteAddress: '' };

test('the router finds what addressedTo matches, for every kind of topic', () => {
  const router = new Router();
  const subs = [
    new Subscription('1', 'ann', ['news'], sink, encoder, info),
    new Subscription('2', 'ann', [], sink, encoder, info),
    new Subscription('3', 'amy:x', ['news', 'team'], sink, encoder, info),
    new Subscription('4', 'bob', ['team'], sink, encoder, info),
  ];
  for (const sub of subs) router.add(sub);
  const topics = [
    ALL,
    userTopic('ann'),
    userTopic('amy:x'),
    userTopic('nobody'),
    groupTopic('news'),
    groupTopic('team'),
    prefixTopic('a'),
    prefixTopic('amy:'),
    prefixTopic(''),
    'mercure:https://example.com/x',
  ];
  for (const topic of topics) {
    const visited: string[] = [];
    router.visit(topic, (sub) => visited.push(sub.id));
    const expected = subs.filter((sub) => addressedTo([topic], sub)).map((sub) => sub.id);
    assert.deepEqual(visited.sort(), expected.sort(), topic);
  }
  router.remove(subs[0] as Subscription);
  const visited: string[] = [];
  router.visit(userTopic('ann'), (sub) => visited.push(sub.id));
  assert.deepEqual(visited, ['2']);
});

test('parseTopic splits at the first colon; groupsOf reads a message topics as the annotation does', () => {
  assert.deepEqual(parseTopic('user:amy:x'), { kind: 'user', name: 'amy:x' });
  assert.deepEqual(parseTopic(groupTopic('news')), { kind: 'group', name: 'news' });
  assert.deepEqual(groupsOf([ALL, groupTopic('a'), groupTopic('b:c')]), {
    groups: ['a', 'b:c'],
    direct: true,
  });
  assert.deepEqual(groupsOf([groupTopic('a')]), { groups: ['a'], direct: false });
  assert.deepEqual(groupsOf([userTopic('ann')]), { groups: [], direct: true });
});
