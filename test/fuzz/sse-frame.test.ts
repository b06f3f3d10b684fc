import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { encodeEvent, encodeEventText, encodeRetry, type SseEvent } from '../../src/protocol/sse-frame.js';
import { eventId, eventName, hostileText, received, wellFormedStream } from './arbitraries.js';

const sseEvent: fc.Arbitrary<SseEvent> = fc.record(
  { id: eventId, event: eventName, data: hostileText },
  { requiredKeys: ['data'] },
);

/** Parses bytes split at the given offsets, the way a network delivers them. */
function parse(bytes: Buffer, cuts: number[]): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const decoder = new TextDecoder();
  let start = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    parser.feed(decoder.decode(bytes.subarray(start, cut), { stream: true }));
    start = cut;
  }
  parser.feed(decoder.decode(bytes.subarray(start)));
  return events;
}

describe('SSE encoder under hostile input (fast-check)', () => {
  test('every frame is one well-formed event ending in exactly one blank line', () => {
    fc.assert(
      fc.property(sseEvent, (event) => {
        const text = encodeEventText(event);
        assert.ok(wellFormedStream(text), JSON.stringify(text));
        assert.equal(
          text.indexOf('\n\n'),
          text.length - 2,
          'no blank line before the end: no injected event',
        );
      }),
      { numRuns: 2000 },
    );
  });

  test('a parser split anywhere gets back exactly the events sent, data intact', () => {
    fc.assert(
      fc.property(
        fc.array(sseEvent, { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (events, cuts) => {
          const bytes = Buffer.concat([Buffer.from(encodeRetry(1000)), ...events.map(encodeEvent)]);
          const parsed = parse(bytes, cuts);
          assert.equal(parsed.length, events.length);
          parsed.forEach((got, i) => {
            const sent = events[i] as SseEvent;
            assert.equal(got.data, received(sent.data));
            assert.equal(got.event, sent.event);
            assert.equal(got.id, sent.id);
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});
