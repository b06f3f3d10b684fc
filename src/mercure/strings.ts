/**
 * The character rules the Mercure draft puts on topics, matchers, ids and types, the hub's reserved
 * namespace, and the percent-encoding of subscription ids. Pure functions; no I/O.
 */

/** The path of the hub's URL: the reserved namespace of hub-generated topics starts here. */
export const HUB_PATH = '/.well-known/mercure';
/** Where subscription events and the subscriptions API live. */
export const SUBSCRIPTIONS_PATH = `${HUB_PATH}/subscriptions`;

// C0, DEL, C1 and Unicode format characters (general category Cf): invisible, or able to inject SSE fields.
const FORBIDDEN = /[\p{Cc}\p{Cf}]/u;

/**
 * True when `value` may be a topic, matcher, id or type: no control or format character. (Valid UTF-8 is
 * checked where the bytes are decoded: a JS string here is always well-formed text.)
 */
export function isProtocolString(value: string): boolean {
  return !FORBIDDEN.test(value) && value.isWellFormed();
}

const UNRESERVED_ESCAPE = /%([0-9A-Fa-f]{2})/g;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * True when `topic` addresses the reserved hub namespace: resolved against the hub's URL (the URL parser
 * removes dot segments), with percent-encoded unreserved characters decoded, its path is the hub's path or
 * under it — whatever the scheme and host, so `https://any.host/.well-known/%6Dercure/x` is refused too.
 */
export function isReservedTopic(topic: string, hubUrl: string): boolean {
  let path: string;
  try {
    path = new URL(topic, hubUrl).pathname;
  } catch {
    return false;
  }
  path = path.replace(UNRESERVED_ESCAPE, (triplet, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : triplet;
  });
  return path === HUB_PATH || path.startsWith(`${HUB_PATH}/`);
}

/**
 * RFC 6570 simple expansion of one variable: every character but the unreserved ones percent-encoded,
 * once (a `%` already in the value is itself encoded). What subscription ids are built of.
 */
export function expandVariable(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
