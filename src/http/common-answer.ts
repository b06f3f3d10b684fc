import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors';
import Fastify, { type FastifyInstance } from 'fastify';
import { HeraldError, Problems } from '../errors.js';

/** The header that names the request in every answer (`http/request-id.ts` makes the ids). */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * What every answer carries whichever path serves it — Fastify's routes, or the `POST /messages` fast
 * path (`fast-publish.ts`), which skips Fastify's hooks — and what every answer is counted for. Both paths
 * take it from here, so they agree by construction.
 */
export interface CommonAnswer {
  /**
   * The headers every answer to a request without `Origin` (the only requests the fast path takes)
   * carries besides `x-request-id`: those the CORS plugin adds then, as the plugin itself answers them.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Told the status of every answer: 401s and 403s are counted (the metrics' auth failures). */
  answered(status: number): void;
}

/** How the app answers every request. */
export interface CommonAnswerOptions {
  /** The CORS plugin's options; undefined: no CORS (same origin only). */
  readonly cors: FastifyCorsOptions | undefined;
  /** Longest request URL (414 beyond). */
  readonly maxUrlLength: number;
  /** Called with the status of every 401 and 403 answered. */
  readonly onAuthFailure?: ((status: 401 | 403) => void) | undefined;
}

/**
 * Installs on `app` what every request goes through — the request id echoed back, the URL length check,
 * CORS, the count of auth failures — and returns the same for the fast path.
 */
export async function installCommonAnswer(
  app: FastifyInstance,
  options: CommonAnswerOptions,
): Promise<CommonAnswer> {
  const maxUrlLength = options.maxUrlLength;
  // One synchronous hook for every request (an async hook costs a promise and a microtask per request).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    const length = request.raw.url?.length ?? 0;
    if (length > maxUrlLength) {
      done(
        new HeraldError(
          Problems.uriTooLong,
          `the URL is ${length} characters long; at most ${maxUrlLength} are accepted`,
        ),
      );
      return;
    }
    done();
  });
  const answered = answeredOf(options.onAuthFailure);
  if (options.onAuthFailure !== undefined) {
    // Synchronous: an async hook would cost a promise and a microtask on every response.
    app.addHook('onResponse', (_request, reply, done) => {
      answered(reply.statusCode);
      done();
    });
  }
  if (options.cors !== undefined) await app.register(fastifyCors, options.cors);
  return { headers: await corsHeadersWithoutOrigin(options.cors), answered };
}

function answeredOf(onAuthFailure: ((status: 401 | 403) => void) | undefined): (status: number) => void {
  if (onAuthFailure === undefined) return () => {};
  return (status) => {
    if (status === 401 || status === 403) onAuthFailure(status);
  };
}

/**
 * What the CORS plugin adds to a request without `Origin`, asked of the plugin itself: a throwaway
 * Fastify app with the same options answers one such request at start. The plugin decides, by its own
 * rules (`Vary` only for origins it reflects, the allowed origin only for `*`, ...), so a plugin upgrade
 * cannot make the fast path drift from Fastify's answers.
 */
async function corsHeadersWithoutOrigin(
  cors: FastifyCorsOptions | undefined,
): Promise<Record<string, string>> {
  if (cors === undefined) return {};
  const probe = Fastify();
  let added: Record<string, string> = {};
  try {
    await probe.register(fastifyCors, cors);
    probe.post('/', (_request, reply) => {
      added = headersOf(reply.getHeaders());
      reply.send();
    });
    await probe.inject({ method: 'POST', url: '/' });
  } finally {
    await probe.close();
  }
  return added;
}

function headersOf(
  headers: Record<string, string | number | readonly string[] | undefined>,
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return result;
}
