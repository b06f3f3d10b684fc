/**
 * Matching topics against RFC 6570 URI Templates (levels 1 to 4), the older Mercure selectors such as
 * `https://example.com/books/{id}`: a template compiles to one anchored regular expression that accepts
 * every expansion of it. Multi-variable expressions and prefix modifiers (`{var:3}`) are matched by the
 * union of what their variables could expand to, without the length bound: a little wider than strict
 * expansion, never narrower.
 */

const UNRESERVED = 'A-Za-z0-9\\-._~';
const RESERVED = ":/?#\\[\\]@!$&'()*+,;=";
const PCT = '%[0-9A-Fa-f]{2}';

/** How an operator expands its variables (RFC 6570 §3.2.1, the table of appendix A). */
interface Operator {
  readonly first: string;
  readonly separator: string;
  /** `;`, `?`, `&`: each value is preceded by its variable's name and `=`. */
  readonly named: boolean;
  /** `+`, `#`: reserved characters pass unencoded. */
  readonly reserved: boolean;
}

const OPERATORS: Readonly<Record<string, Operator>> = {
  '': { first: '', separator: ',', named: false, reserved: false },
  '+': { first: '', separator: ',', named: false, reserved: true },
  '#': { first: '#', separator: ',', named: false, reserved: true },
  '.': { first: '.', separator: '.', named: false, reserved: false },
  '/': { first: '/', separator: '/', named: false, reserved: false },
  ';': { first: ';', separator: ';', named: true, reserved: false },
  '?': { first: '?', separator: '&', named: true, reserved: false },
  '&': { first: '&', separator: '&', named: true, reserved: false },
};

const VARSPEC =
  /^((?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*)(?::([1-9]\d{0,3})|(\*))?$/;
// RFC 6570 §2.1: literals are any character but these (and `%` outside a pct-encoded triplet).
const BAD_LITERAL = /[\p{Cc} "'<>\\^`{|}]/u;

/** A compiled template: its regular expression and whether matching it costs time linear in the input. */
export interface CompiledTemplate {
  readonly regexp: RegExp;
  /**
   * False when two variable parts can compete for the same characters (`{a}{b}`, or two expressions each
   * followed by a literal they could also match), so a crafted topic could make matching super-linear.
   */
  readonly linear: boolean;
}

const escapeRegExp = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** Compiles `template`, or returns undefined when it is not a valid URI Template (then it matches exactly). */
export function compileTemplate(template: string): CompiledTemplate | undefined {
  let source = '^';
  let i = 0;
  /** Characters the last expression's variable part can take, while no literal followed it yet. */
  let open: string | null = null;
  let competing = 0;
  let expressions = 0;
  while (i < template.length) {
    const brace = template.indexOf('{', i);
    const literal = template.slice(i, brace === -1 ? template.length : brace);
    if (literal !== '') {
      if (BAD_LITERAL.test(literal) || /%(?![0-9A-Fa-f]{2})/.test(literal)) return undefined;
      if (open !== null && new RegExp(`^[${open}]`).test(literal)) competing++;
      open = null;
      source += escapeRegExp(literal);
    }
    if (brace === -1) break;
    const close = template.indexOf('}', brace);
    if (close === -1) return undefined;
    const expression = compileExpression(template.slice(brace + 1, close));
    if (expression === undefined) return undefined;
    if (open !== null) competing++;
    open = expression.chars;
    source += expression.source;
    expressions++;
    i = close + 1;
  }
  if (expressions === 0) return undefined;
  return { regexp: new RegExp(`${source}$`), linear: competing <= 1 };
}

function compileExpression(text: string): { source: string; chars: string } | undefined {
  const op = OPERATORS[text.charAt(0)] !== undefined && text.charAt(0) !== '' ? text.charAt(0) : '';
  const operator = OPERATORS[op] as Operator;
  const specs = text.slice(op.length).split(',');
  let explode = false;
  const names: string[] = [];
  for (const spec of specs) {
    const match = VARSPEC.exec(spec);
    if (match === null) return undefined;
    names.push(match[1] as string);
    if (match[3] !== undefined) explode = true;
  }
  // A value: unreserved (or, for + and #, reserved) characters and pct-encoded triplets; `,` joins list
  // items, `=` joins an exploded pair's key and value.
  const chars = `${UNRESERVED}${operator.reserved ? RESERVED : ''},=`;
  const value = `(?:[${chars}]|${PCT})*`;
  const sep = escapeRegExp(operator.separator);
  let item: string;
  if (operator.named) {
    const name = explode ? `(?:[${UNRESERVED}]|${PCT})+` : `(?:${names.map(escapeRegExp).join('|')})`;
    item = `${name}(?:=${value})?`;
  } else item = value;
  // When the separator is itself a value character (`,` of the plain operators, `.` of labels) one run of
  // value characters covers every item: repeating the item around it would backtrack exponentially.
  const separatorInValue = operator.reserved || ',.'.includes(operator.separator);
  const body = !operator.named && separatorInValue ? value : `${item}(?:${sep}${item})*`;
  const allChars =
    operator.named || !separatorInValue ? `${chars}${escapeRegExp(operator.separator)}` : chars;
  return { source: `(?:${escapeRegExp(operator.first)}${body})?`, chars: `${allChars}%` };
}
