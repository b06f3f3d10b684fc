/** A V8 profile's call frame, as both CPU profiles and sampling heap profiles give it. */
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  /** Zero-based. */
  readonly lineNumber: number;
}

/** `name folder/file.js:line` (one-based line), or the bare name of a frame with no script. */
export function frameName({ functionName, url, lineNumber }: CallFrame): string {
  const where = url === '' ? '' : ` ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${where}`;
}
