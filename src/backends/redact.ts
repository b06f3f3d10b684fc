/**
 * Hides the passwords of a URL before it is shown in an error or a log line: the one in its user info,
 * and any query parameter whose name ends in `password` (`?sentinelPassword=` of a Sentinel URL).
 */
export function redact(url: string): string {
  return url
    .replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@')
    .replace(/([?&][A-Za-z]*password=)[^&#]*/gi, '$1***');
}
