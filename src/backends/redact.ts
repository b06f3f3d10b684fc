/** Hides the password of a URL before it is shown in an error or a log line. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@');
}
