import type { FastifyReply } from 'fastify';
import { releaseFrameworkListeners } from './internals/framework-listeners.js';

/** Response headers as `writeHead` takes them. */
export type StreamHeaders = Record<string, string | number | readonly string[]>;

/**
 * Takes a reply away from Fastify for a stream the SSE transport writes (`/events`, the classic `/sse`
 * subscription, the admin stream) and returns the headers Fastify's hooks set on it (CORS, request id),
 * which a hijacked response must carry itself. They go to the transport's one `writeHead` rather than
 * through `setHeader`, which would keep a header table (an object and an array per header) on the
 * response for its whole life. Fastify's own per-response listener is released too (see
 * `internals/framework-listeners.ts`), so an idle stream does not keep its request and reply.
 */
export function hijackForStream(reply: FastifyReply): StreamHeaders {
  reply.hijack();
  const headers: StreamHeaders = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) headers[name] = value;
  }
  releaseFrameworkListeners(reply.raw);
  return headers;
}
