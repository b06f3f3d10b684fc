import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createParser } from 'eventsource-parser';
import { encodeEvent } from '../../src/protocol/sse-frame.js';
import { annotationOf, parseAnnotation } from '../../src/protocol/wire.js';

describe('frame annotations (JSON and group marks)', () => {
  test('plain text to users needs none; JSON and groups are marked', () => {
    assert.equal(annotationOf(false, ['user:a', 'all']), undefined);
    assert.equal(annotationOf(true, ['user:a']), 'herald json');
    assert.equal(annotationOf(false, ['group:news', 'group:team-a']), 'herald groups=news,team-a');
    assert.equal(annotationOf(true, ['group:news', 'user:zed']), 'herald json groups=news direct');
  });

  test('a message published with a ttl is marked inbox, so clients acknowledge it', () => {
    assert.equal(annotationOf(false, ['user:a'], true), 'herald inbox');
    assert.equal(annotationOf(true, ['group:g'], true), 'herald json inbox groups=g');
    assert.deepEqual(parseAnnotation('herald json inbox groups=g'), {
      json: true,
      groups: ['g'],
      direct: false,
      inbox: true,
    });
  });

  test('parse reads back what annotate wrote, and ignores other comments', () => {
    assert.deepEqual(parseAnnotation('herald json'), { json: true, groups: [], direct: true, inbox: false });
    assert.deepEqual(parseAnnotation('herald groups=a,b'), {
      json: false,
      groups: ['a', 'b'],
      direct: false,
      inbox: false,
    });
    assert.deepEqual(parseAnnotation('herald json groups=a direct'), {
      json: true,
      groups: ['a'],
      direct: true,
      inbox: false,
    });
    assert.equal(parseAnnotation(''), undefined);
    assert.equal(parseAnnotation('heartbeat'), undefined);
  });

  test('a WHATWG parser sees the same event, and reports the annotation before it, at any chunking', () => {
    const frame = encodeEvent({
      id: '1-2',
      event: 'chat',
      data: '{"a":1}',
      comment: 'herald json groups=g',
    }).toString('utf8');
    for (let cut = 0; cut <= frame.length; cut++) {
      const seen: string[] = [];
      const parser = createParser({
        onComment: (comment) => seen.push(`comment ${comment}`),
        onEvent: (event) => seen.push(`event ${event.id} ${event.event} ${event.data}`),
      });
      parser.feed(frame.slice(0, cut));
      parser.feed(frame.slice(cut));
      assert.deepEqual(seen, ['comment herald json groups=g', 'event 1-2 chat {"a":1}'], `cut at ${cut}`);
    }
  });
});
