import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HeraldError, Problems } from '../errors.js';
import type { HttpDeps } from '../http/deps.js';
import { userIdParam } from '../http/presence.js';
import { publish } from '../http/publish.js';
import { queryOne } from '../http/query.js';
import { checkName } from '../protocol/grammar.js';
import { ALL, prefixTopic, userTopic } from '../protocol/topics.js';
import { lastEventIdOf } from '../transport/streams.js';

/** The text the classic tutorial's subscription sends first ("connected"); its pages display it. */
export const CLASSIC_GREETING = '连接成功';

/**
 * The `/sse` API of the classic Spring `SseEmitter` tutorial, on Herald's hub and log, so existing
 * front ends work unchanged. Sends are plain `message` events whose data is the text.
 */
export function classicRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Params: { userId: string } }>('/sse/subscribe/:userId', async (request, reply) => {
    const userId = userIdParam(request.params.userId);
    const subscriber = await deps.identity.subscriber(request, { userId, groups: [] });
    deps.guard.open(request, reply, subscriber, {
      lastEventId: lastEventIdOf(request.raw, request.query as Record<string, unknown>),
      greetingEvents: [{ data: CLASSIC_GREETING }],
    });
  });

  /** Sends the `message` query parameter to `topic` (whose parameter was checked before the caller). */
  const send = async (request: FastifyRequest, topic: string): Promise<{ id: string }> => {
    const message = await publish(deps, request, () => ({
      topics: [topic],
      data: requiredParam(request, 'message'),
    }));
    return { id: message.id };
  };

  app.get('/sse/sendMessage', async (request) => send(request, userTopic(nameParam(request, 'userId'))));
  app.get('/sse/groupSendMessage', async (request) =>
    send(request, prefixTopic(nameParam(request, 'groupId'))),
  );
  app.get('/sse/batchSendMessage', async (request) => send(request, ALL));

  app.get<{ Params: { userId: string } }>('/sse/close/:userId', async (request) => {
    await deps.identity.publisher(request);
    const userId = userIdParam(request.params.userId);
    return { user: userId, closed: await deps.control.disconnectUser(userId) };
  });

  app.get('/sse/getUserCount', async (request) => {
    await deps.identity.publisher(request);
    return (await deps.presence.summary()).users;
  });
}

function requiredParam(request: FastifyRequest, name: string): string {
  const value = queryOne((request.query as Record<string, unknown>)[name]);
  if (value === undefined) {
    throw new HeraldError(Problems.invalidRequest, `the ${name} query parameter is required`, {
      field: name,
    });
  }
  return value;
}

function nameParam(request: FastifyRequest, name: string): string {
  const value = requiredParam(request, name);
  const problem = checkName(value, name);
  if (problem !== undefined) throw new HeraldError(Problems.invalidRequest, problem, { field: name });
  return value;
}
