import { Writable } from 'node:stream';
import pino from 'pino';
import { type Config, loadConfig } from '../../src/config.js';
import { createHerald, type Herald, type HeraldOptions } from '../../src/server.js';

/** A Herald node started in this process on a free port. */
export interface TestHerald {
  readonly url: string;
  readonly herald: Herald;
  /** Log lines written so far (JSON objects). */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * Starts Herald in development mode on 127.0.0.1 and a free port, with `overrides` on top of the defaults
 * (and `options`, such as a clock the test moves).
 */
export async function startHerald(
  overrides: Partial<Config> = {},
  options: HeraldOptions = {},
): Promise<TestHerald> {
  const config: Config = { ...loadConfig([], {}), host: '127.0.0.1', port: 0, dev: true, ...overrides };
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') logs.push(JSON.parse(line));
      done();
    },
  });
  const herald = await createHerald(config, pino({ level: 'info' }, sink), options);
  const url = await herald.listen();
  return { url, herald, logs, close: () => herald.close() };
}

/** A parsed JSON body; tests assert on it field by field. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions that read them
export type JsonBody = any;

/** POSTs JSON and returns the status and parsed body. */
export async function postJson(url: string, body: unknown): Promise<{ status: number; body: JsonBody }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Publishes one message through `POST /messages`; fails the test unless it is accepted. */
export async function publish(base: string, message: Record<string, unknown>): Promise<string> {
  const { status, body } = await postJson(`${base}/messages`, message);
  if (status !== 202) throw new Error(`publish answered ${status}: ${JSON.stringify(body)}`);
  return body.id as string;
}

/** GETs a URL and returns status, content type and parsed JSON body. */
export async function getJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; type: string; body: JsonBody }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: text === '' ? undefined : JSON.parse(text),
  };
}

/** The keys of production-mode test nodes (never use these anywhere else). */
export const TEST_KEYS = {
  jwtSecret: 'test-only-secret-0123456789abcdef0123456789',
  publishKey: 'test-only-publish-key',
  adminKey: 'test-only-admin-key',
} as const;

/** Starts Herald in production mode (tokens required) with `TEST_KEYS`, and `overrides` on top. */
export function startSecureHerald(overrides: Partial<Config> = {}): Promise<TestHerald> {
  return startHerald({ dev: false, ...TEST_KEYS, ...overrides });
}
