import type { FastifyError, FastifyInstance } from 'fastify';
import { StartupError } from '../../errors.js';

/** A JSON body parser as a plain function: the value, or Fastify's error thrown. */
export type JsonParser = (text: string) => unknown;

/**
 * Fastify's own JSON body parser (`getDefaultJsonParser`, with the app's poisoning options) as a plain
 * function, so the `POST /messages` fast path parses and refuses (`__proto__`, empty bodies) exactly as
 * Fastify does. Fastify documents the parser's `(request, body, done)` signature, not that it answers
 * synchronously nor that it ignores the request; the fast path relies on both (one shared `done`, no
 * request object), so they are checked here when the parser is taken, at start: a Fastify whose parser
 * changed fails the start with a `StartupError` instead of answering publishes wrongly.
 */
export function fastifyJsonParser(app: FastifyInstance): JsonParser {
  const parser = app.getDefaultJsonParser(
    app.initialConfig.onProtoPoisoning ?? 'error',
    app.initialConfig.onConstructorPoisoning ?? 'error',
  );
  const parse = synchronousParser(parser);
  checkJsonParser(parse, app.version);
  return parse;
}

/** What `getDefaultJsonParser` returns: Fastify's content-type parser signature. */
export type FastifyBodyParser = (
  request: never,
  body: string,
  done: (error: Error | null, body?: unknown) => void,
) => unknown;

/** A sentinel: `done` was not called before the parser returned. */
const UNANSWERED = Symbol('unanswered');

/**
 * Wraps a parser that answers through `done` before returning: one `done` serves every call (no closure
 * per request). A parser that has not answered by the time it returns throws.
 */
export function synchronousParser(parser: FastifyBodyParser): JsonParser {
  let parsed: unknown = UNANSWERED;
  let failure: Error | null = null;
  const done = (error: Error | null, body?: unknown): void => {
    failure = error;
    parsed = error === null ? body : undefined;
  };
  return (text: string): unknown => {
    void parser(undefined as never, text, done);
    const error = failure as Error | null;
    const body = parsed;
    failure = null;
    parsed = UNANSWERED;
    if (error !== null) throw error;
    if (body === UNANSWERED) throw new Error('the JSON parser did not answer synchronously');
    return body;
  };
}

/**
 * Checks a parser on three bodies: a value it must return, and the two refusals `http/problems.ts` tells
 * apart by Fastify's codes. Throws a `StartupError` saying what differs.
 */
export function checkJsonParser(parse: JsonParser, fastifyVersion: string): void {
  const problems: string[] = [];
  const codeOf = (text: string): string | undefined => {
    try {
      parse(text);
      return undefined;
    } catch (error) {
      return (error as FastifyError).code ?? (error as Error).message;
    }
  };
  try {
    const value = parse('{"a":[1]}') as { a?: unknown[] } | undefined;
    if (value?.a?.[0] !== 1) problems.push('it does not return the parsed value');
  } catch (error) {
    problems.push(`it failed on valid JSON: ${(error as Error).message}`);
  }
  const empty = codeOf('');
  if (empty !== 'FST_ERR_CTP_EMPTY_JSON_BODY') problems.push(`an empty body gives ${empty ?? 'no error'}`);
  const invalid = codeOf('{"a":');
  if (invalid !== 'FST_ERR_CTP_INVALID_JSON_BODY')
    problems.push(`invalid JSON gives ${invalid ?? 'no error'}`);
  if (problems.length > 0) {
    throw new StartupError(
      `Fastify ${fastifyVersion} changed what Herald relies on: its default JSON parser is no longer ` +
        `usable by the POST /messages fast path (${problems.join('; ')}); ` +
        'src/http/internals/json-parser.ts needs updating for this version',
    );
  }
}
