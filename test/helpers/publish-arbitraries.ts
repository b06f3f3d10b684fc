import fc from 'fast-check';
import { DEFAULT_MAX_TTL_MS } from '../../src/http/publish-request.js';
import {
  MAX_EVENT_LENGTH,
  MAX_ID_LENGTH,
  MAX_NAME_LENGTH,
  RESERVED_EVENTS,
} from '../../src/protocol/grammar.js';
import { hostileText } from '../fuzz/arbitraries.js';

/**
 * Publish bodies near the edge of validity: mostly well-formed, each with a fair chance of one flaw (a bad
 * name, a limit passed by one, a missing or unknown field, a wrong type), so a property that compares two
 * judges of validity sees both answers often and the boundaries every run.
 */

const validName = fc.stringMatching(/^[A-Za-z0-9._~@:+-]{1,12}$/);

const nameLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 24, arbitrary: validName },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      'a b',
      'é',
      'a\n',
      '\ud800',
      'x'.repeat(MAX_NAME_LENGTH),
      'x'.repeat(MAX_NAME_LENGTH + 1),
    ),
  },
  { weight: 1, arbitrary: hostileText },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(null), fc.boolean()) },
);

const namesLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 16, arbitrary: fc.array(nameLike, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(Array(1000).fill('u'), Array(1001).fill('u'), []) },
  { weight: 1, arbitrary: fc.oneof(validName, fc.jsonValue({ maxDepth: 1 })) },
);

const eventLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 16, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9._:-]{0,12}$/) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      ...RESERVED_EVENTS,
      '1abc',
      'a b',
      'a\r',
      'a'.repeat(MAX_EVENT_LENGTH),
      'a'.repeat(MAX_EVENT_LENGTH + 1),
      '',
    ),
  },
  { weight: 1, arbitrary: fc.oneof(hostileText, fc.jsonValue({ maxDepth: 1 })) },
);

const idLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 16, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9._~:+-]{0,12}$/) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '1abc',
      '_',
      'a@b',
      'a\n',
      '',
      'a'.repeat(MAX_ID_LENGTH),
      'a'.repeat(MAX_ID_LENGTH + 1),
    ),
  },
  { weight: 1, arbitrary: fc.oneof(hostileText, fc.jsonValue({ maxDepth: 1 })) },
);

/** The largest `ttl` under the default `--inbox-max-ttl` (the value the schema gives), in seconds. */
const MAX_TTL = Math.floor(DEFAULT_MAX_TTL_MS / 1000);

const ttlLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 1, max: MAX_TTL }) },
  { weight: 4, arbitrary: fc.constantFrom(1, 2, MAX_TTL - 1, MAX_TTL, 0, -1, MAX_TTL + 1) },
  { weight: 1, arbitrary: fc.constantFrom(0.5, 1.5, MAX_TTL + 0.5, 1e21, -MAX_TTL, '60', null, true) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })) },
);

/** What to leave out of, or add to, an object: usually nothing. */
const flaw = <K extends string>(keys: readonly K[]): fc.Arbitrary<K | 'none' | 'extra'> =>
  fc.oneof(
    { weight: 14, arbitrary: fc.constant('none' as const) },
    { weight: 1, arbitrary: fc.constant('extra' as const) },
    ...(keys.length === 0 ? [] : [{ weight: 2, arbitrary: fc.constantFrom(...keys) }]),
  );

function withFlaw(value: Record<string, unknown>, which: string): Record<string, unknown> {
  if (which === 'none') return value;
  if (which === 'extra') return { ...value, priority: 1 };
  const { [which]: _dropped, ...rest } = value;
  return rest;
}

/** `to`: usually an object with some of users, groups, userPrefix, all. */
export const targetLike: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .record(
        {
          users: namesLike,
          groups: namesLike,
          userPrefix: nameLike,
          all: fc.oneof({ weight: 9, arbitrary: fc.boolean() }, fc.jsonValue({ maxDepth: 1 })),
        },
        { requiredKeys: [] },
      )
      .chain((target) => flaw([]).map((which) => withFlaw(target, which))),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

/** One message body: to and data, maybe event, id and ttl, maybe a field missing or one too many. */
export const messageLike: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .tuple(
        targetLike,
        fc.jsonValue({ maxDepth: 2 }),
        fc.option(eventLike, { nil: undefined }),
        fc.option(idLike, { nil: undefined }),
        fc.option(ttlLike, { nil: undefined }),
        flaw(['to', 'data']),
      )
      .map(([to, data, event, id, ttl, which]) =>
        withFlaw(
          {
            to,
            data,
            ...(event === undefined ? {} : { event }),
            ...(id === undefined ? {} : { id }),
            ...(ttl === undefined ? {} : { ttl }),
          },
          which,
        ),
      ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

/** A `POST /messages` body: a message, a batch (sometimes empty or one too long), or any JSON. */
export const publishBodyLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: messageLike },
  { weight: 3, arbitrary: fc.array(messageLike, { maxLength: 3 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Array(1000).fill({ to: { all: true }, data: 1 }),
      Array(1001).fill({ to: { all: true }, data: 1 }),
    ),
  },
);

/** Strings for a name: valid, near-valid, or hostile. */
export const nameText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: validName },
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: MAX_NAME_LENGTH + 2 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'a b',
      'é',
      'a/b',
      'x'.repeat(MAX_NAME_LENGTH),
      'x'.repeat(MAX_NAME_LENGTH + 1),
    ),
  },
  { weight: 1, arbitrary: hostileText.filter((text) => text.length > 0) },
);
