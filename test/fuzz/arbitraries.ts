import fc from 'fast-check';

/** Pieces that break naive SSE encoders, parsers and validators. */
const NASTY = [
  '\r',
  '\n',
  '\r\n',
  '\n\n',
  '\0',
  ':',
  'data: ',
  'id: 999',
  'event: disconnect',
  'retry: 1',
  '\uFEFF',
  '\u2028',
  '\ud800',
  '\udfff',
  ' ',
  '%00',
  '../',
  '<script>',
  '"',
  '\\',
  '😀',
  'user:bob',
  'group:admins',
  'all',
];

/** Text mixing hostile pieces with arbitrary Unicode (lone surrogates included). */
export const hostileText: fc.Arbitrary<string> = fc
  .array(fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'binary', maxLength: 8 })), { maxLength: 12 })
  .map((parts) => parts.join(''));

/** Valid event names (what the API lets through to the encoder). */
export const eventName: fc.Arbitrary<string> = fc.stringMatching(/^[A-Za-z][A-Za-z0-9._:-]{0,15}$/);

/** Valid ids: log-assigned shapes and publisher-chosen ones. */
export const eventId: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^[0-9]{1,6}-[0-9]{1,6}$/),
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9._~:+-]{0,20}$/),
);

/** What a WHATWG parser hands the page for `data` sent as UTF-8: line ends normalised to LF. */
export function received(data: string): string {
  return Buffer.from(data, 'utf8')
    .toString('utf8')
    .replace(/\r\n|\r/g, '\n');
}

/** True when every line of an SSE stream is a field this server writes, a comment, or blank. */
export function wellFormedStream(raw: string): boolean {
  if (raw.includes('\r')) return false;
  return raw.split('\n').every((line) => line === '' || /^(:|(id|event|data|retry): )/.test(line));
}
