/**
 * `application/x-www-form-urlencoded` as the URL standard parses it (what `URLSearchParams` and
 * `EventSource` produce), over bytes, refusing what is not UTF-8 — the draft requires valid UTF-8, and a
 * lenient decoder would silently turn bad bytes into U+FFFD. Repeated names keep every value, in order.
 */

/** Name-value pairs in order. */
export type FormPairs = readonly (readonly [name: string, value: string])[];

/** Bytes that are not UTF-8 once percent-decoded. */
export class FormEncodingError extends Error {}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses a form body or a query string (without `?`); throws `FormEncodingError`. */
export function parseForm(bytes: Uint8Array): FormPairs {
  const pairs: [string, string][] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x26) continue;
    if (i > start) {
      const sequence = bytes.subarray(start, i);
      const eq = sequence.indexOf(0x3d);
      const name = eq === -1 ? sequence : sequence.subarray(0, eq);
      const value = eq === -1 ? new Uint8Array(0) : sequence.subarray(eq + 1);
      pairs.push([decode(name), decode(value)]);
    }
    start = i + 1;
  }
  return pairs;
}

/** The query string of a request target (`/path?query`), as form pairs. */
export function parseQuery(url: string): FormPairs {
  const question = url.indexOf('?');
  if (question === -1) return [];
  const hash = url.indexOf('#', question);
  return parseForm(Buffer.from(url.slice(question + 1, hash === -1 ? undefined : hash), 'latin1'));
}

/** Every value of `name`, in order. */
export function valuesOf(pairs: FormPairs, name: string): string[] {
  const values: string[] = [];
  for (const [n, v] of pairs) if (n === name) values.push(v);
  return values;
}

/** The first value of `name`, or undefined when absent. */
export function firstOf(pairs: FormPairs, name: string): string | undefined {
  for (const [n, v] of pairs) if (n === name) return v;
  return undefined;
}

function decode(bytes: Uint8Array): string {
  const out = new Uint8Array(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (byte === 0x2b) out[length++] = 0x20;
    else if (byte === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
      out[length++] = Number.parseInt(
        String.fromCharCode(bytes[i + 1] as number, bytes[i + 2] as number),
        16,
      );
      i += 2;
    } else out[length++] = byte;
  }
  try {
    return decoder.decode(out.subarray(0, length));
  } catch {
    throw new FormEncodingError('a name or value is not valid UTF-8');
  }
}

function isHex(byte: number | undefined): boolean {
  return (
    byte !== undefined && ((byte >= 0x30 && byte <= 0x39) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x66))
  );
}
