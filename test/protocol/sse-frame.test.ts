import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { encodeComment, encodeEvent, encodeRetry, type SseEvent } from '../../src/protocol/sse-frame.js';

/** Parses bytes as a WHATWG-conforming client would (eventsource-parser implements the spec's algorithm). */
function parse(bytes: Buffer): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  parser.feed(bytes.toString('utf8'));
  return events;
}

/** What a client must see for `data`: every line terminator becomes LF; lone surrogates became U+FFFD in UTF-8. */
const asReceived = (data: string): string => data.replace(/\r\n|\r/g, '\n').toWellFormed();

describe('SSE encoder against the WHATWG parsing rules', () => {
  const cases: [string, string][] = [
    ['single line', 'hello'],
    ['empty data', ''],
    ['LF-separated lines', 'one\ntwo\nthree'],
    ['CRLF-separated lines', 'one\r\ntwo'],
    ['lone CR as a line break', 'one\rtwo'],
    ['trailing line break', 'line\n'],
    ['only line breaks', '\n\n\r\n'],
    ['leading space kept', '  indented'],
    ['colons and field names inside data', 'id: 5\nevent: evil\nretry: 1'],
    ['unicode', 'héllo 世界 🚀 连接成功'],
    ['NUL in data', 'a\0b'],
  ];
  for (const [name, data] of cases) {
    test(`data round-trips: ${name}`, () => {
      const events = parse(encodeEvent({ id: '1-1', event: 'note', data }));
      assert.equal(events.length, 1);
      assert.equal(events[0]?.data, asReceived(data));
      assert.equal(events[0]?.id, '1-1');
      assert.equal(events[0]?.event, 'note');
    });
  }

  test('data can never inject a field or a second event (property)', () => {
    const piece = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom('\r', '\n', '\r\n', '\n\n', 'id: x', 'event: y', 'retry: 1', 'data: z', ':', ' '),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const data = pieces.join('');
        const frame = encodeEvent({ id: '7-7', data });
        const events = parse(frame);
        assert.equal(events.length, 1);
        assert.equal(events[0]?.data, asReceived(data));
        assert.equal(events[0]?.id, '7-7');
        assert.equal(events[0]?.event, undefined);
        assert.ok(frame.toString('utf8').endsWith('\n\n'));
      }),
      { numRuns: 2000 },
    );
  });

  test('several frames concatenated parse as that many events', () => {
    const frames: SseEvent[] = [{ data: 'a' }, { id: 'x', data: 'b\nc' }, { event: 'e', data: '' }];
    const events = parse(Buffer.concat(frames.map((f) => encodeEvent(f))));
    assert.deepEqual(
      events.map((e) => e.data),
      ['a', 'b\nc', ''],
    );
  });

  test('comments and retry hints are not events', () => {
    const bytes = Buffer.from(encodeComment() + encodeComment('hello\nworld') + encodeRetry(2500));
    assert.equal(parse(bytes).length, 0);
    let retry: number | undefined;
    createParser({ onEvent: () => {}, onRetry: (r) => (retry = r) }).feed(bytes.toString());
    assert.equal(retry, 2500);
  });
});
