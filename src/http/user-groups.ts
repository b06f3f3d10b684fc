import type { FastifyInstance } from 'fastify';
import { MAX_USER_GROUPS } from '../core/groups.js';
import { HeraldError, Problems } from '../errors.js';
import { checkName } from '../protocol/grammar.js';
import type { HttpDeps } from './deps.js';
import { userIdParam } from './presence.js';

const invalid = (field: string, detail: string): HeraldError =>
  new HeraldError(Problems.invalidRequest, detail, { field });

/**
 * Groups the backend manages (`core/groups.ts`), with publisher credentials: `PUT` replaces a user's
 * server-side groups, `PATCH` adds and removes, `DELETE` leaves them all, `GET` lists them. Every answer
 * is `{"user", "groups"}`, sent once the change reached the user's live connections on every node.
 */
export function userGroupRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Params: { id: string } }>('/users/:id/groups', async (request) => {
    await deps.identity.publisher(request);
    const userId = userIdParam(request.params.id);
    return { user: userId, groups: await deps.groups.of(userId) };
  });

  app.put<{ Params: { id: string } }>('/users/:id/groups', async (request) => {
    await deps.identity.publisher(request);
    const userId = userIdParam(request.params.id);
    const fields = objectBody(request.body, ['groups']);
    if (fields.groups === undefined) throw invalid('groups', 'groups is required: an array of group names');
    const groups = groupList(fields.groups, 'groups');
    if (new Set(groups).size > MAX_USER_GROUPS) {
      throw invalid('groups', `a user has at most ${MAX_USER_GROUPS} server-side groups`);
    }
    return { user: userId, groups: await deps.groups.replace(userId, groups) };
  });

  app.patch<{ Params: { id: string } }>('/users/:id/groups', async (request) => {
    await deps.identity.publisher(request);
    const userId = userIdParam(request.params.id);
    const fields = objectBody(request.body, ['add', 'remove']);
    if (fields.add === undefined && fields.remove === undefined) {
      throw invalid('(body)', 'give add, remove or both: arrays of group names');
    }
    const add = fields.add === undefined ? [] : groupList(fields.add, 'add');
    const remove = fields.remove === undefined ? [] : groupList(fields.remove, 'remove');
    const current = await deps.groups.of(userId);
    const after = new Set([...current, ...add]);
    for (const group of remove) after.delete(group);
    if (after.size > MAX_USER_GROUPS) {
      throw invalid('add', `a user has at most ${MAX_USER_GROUPS} server-side groups`);
    }
    return { user: userId, groups: await deps.groups.change(userId, add, remove) };
  });

  app.delete<{ Params: { id: string } }>('/users/:id/groups', async (request) => {
    await deps.identity.publisher(request);
    const userId = userIdParam(request.params.id);
    return { user: userId, groups: await deps.groups.replace(userId, []) };
  });
}

/** The body as an object with only `allowed` fields. */
function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('(body)', 'the body must be a JSON object');
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key))
      throw invalid(key, `unknown field "${key}": expected ${allowed.join(' or ')}`);
  }
  return fields;
}

function groupList(value: unknown, at: string): string[] {
  if (!Array.isArray(value)) throw invalid(at, `${at} must be an array of group names`);
  if (value.length > MAX_USER_GROUPS) throw invalid(at, `${at} lists at most ${MAX_USER_GROUPS} groups`);
  value.forEach((name, index) => {
    const problem = checkName(name, `${at}[${index}]`);
    if (problem !== undefined) throw invalid(`${at}[${index}]`, problem);
  });
  return value as string[];
}
