import { readFileSync } from 'node:fs';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { Problems } from '../errors.js';
import { API_OPERATIONS, type ApiOperation, type Caller, NOT_API } from './api-operations.js';
import { API_SCHEMAS } from './api-schemas.js';

/** One route Fastify registered: its method and its path in OpenAPI form (`{id}` for `:id`). */
export interface RegisteredRoute {
  readonly method: string;
  readonly path: string;
  /** Marked hidden from API documents (the web root's static files). */
  readonly hidden: boolean;
}

const PROBLEM_TYPE = 'application/problem+json';

/** The routes each app registered, for the document and for the test that every one is described. */
const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/**
 * Records every route registered on `app` from now on. Called first thing, so the routes of plugins,
 * adapters and the composition root (metrics, admin) are all seen.
 */
export function recordRoutes(app: FastifyInstance): void {
  const routes: RegisteredRoute[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (route: RouteOptions) => {
    const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    for (const method of [route.method].flat()) routes.push({ method, path, hidden });
  });
}

/** The routes `app` registered since `recordRoutes`. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return registered.get(app) ?? [];
}

/**
 * The registered routes that are neither described in `API_OPERATIONS` nor listed in `NOT_API`, nor hidden
 * static files, nor the `HEAD` twin Fastify adds to each `GET`. Empty when the document is complete.
 */
export function undescribedRoutes(app: FastifyInstance): string[] {
  const routes = registeredRoutes(app);
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.path));
  const described = new Set(API_OPERATIONS.map((op) => `${op.method} ${op.path}`));
  return routes
    .filter((r) => !r.hidden && !(r.method === 'HEAD' && gets.has(r.path)))
    .map((r) => `${r.method} ${r.path}`)
    .filter((key) => !described.has(key) && NOT_API[key] === undefined);
}

/** `GET /openapi.json`: the document of the routes this node serves, built once, after they are all in. */
export function openApiRoutes(app: FastifyInstance): void {
  let body: string | undefined;
  app.get('/openapi.json', async (_request, reply) => {
    body ??= JSON.stringify(openApiDocument(registeredRoutes(app)));
    return reply.type('application/json; charset=utf-8').header('cache-control', 'no-cache').send(body);
  });
}

/** The OpenAPI 3.1 document of the operations of `API_OPERATIONS` whose route is among `routes`. */
export function openApiDocument(routes: readonly RegisteredRoute[]): Record<string, unknown> {
  const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of API_OPERATIONS) {
    if (!served.has(`${op.method} ${op.path}`)) continue;
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, unknown>)[op.method.toLowerCase()] = operationObject(op);
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    info: {
      title: 'Herald',
      version: PACKAGE_VERSION,
      summary: 'Real-time push over Server-Sent Events: publish over HTTP, subscribe with EventSource.',
      description:
        'Credentials are those of production mode; in development mode (`--dev`) none is needed and `?user=` says who subscribes. Errors are RFC 9457 problem documents (`application/problem+json`).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'subscribe', description: 'Streams and long-polling' },
      { name: 'publish', description: 'Sending messages' },
      { name: 'inbox', description: 'Messages that wait for their users (published with a `ttl`)' },
      { name: 'groups', description: 'Groups the backend manages' },
      { name: 'presence', description: 'Who is online; ending connections' },
      { name: 'health', description: 'For load balancers and orchestrators' },
      { name: 'admin', description: 'The dashboard, its API and metrics' },
      { name: 'classic', description: "The classic Spring SseEmitter tutorial's /sse API" },
      { name: 'meta', description: 'The client bundle and this document' },
    ],
    paths,
    components: { schemas: API_SCHEMAS, securitySchemes: SECURITY_SCHEMES },
  };
}

function operationObject(op: ApiOperation): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const success of op.success) {
    responses[String(success.status)] = {
      description: success.description,
      ...(success.headers === undefined ? {} : { headers: success.headers }),
      ...(success.type === undefined
        ? {}
        : { content: { [success.type]: success.schema === undefined ? {} : { schema: success.schema } } }),
    };
  }
  for (const status of op.problems) responses[String(status)] = problemResponse(status);
  return {
    operationId: operationId(op),
    tags: [op.tag],
    summary: op.summary,
    ...(op.description === undefined ? {} : { description: op.description }),
    security: SECURITY[op.caller],
    ...(op.parameters === undefined || op.parameters.length === 0
      ? {}
      : {
          parameters: op.parameters.map((p) => ({ ...p, required: p.in === 'path' || p.required === true })),
        }),
    ...(op.body === undefined
      ? {}
      : { requestBody: { required: true, content: { 'application/json': { schema: op.body } } } }),
    responses,
  };
}

/** A problem answer: the catalogue's codes of that status, and the problem schema. */
function problemResponse(status: number): Record<string, unknown> {
  const codes = Object.values(Problems).filter((p) => p.status === status);
  const description = codes.map((p) => `\`${p.code}\`: ${p.title}`).join('; ');
  return {
    description: description === '' ? 'A problem' : description,
    content: { [PROBLEM_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
  };
}

/** `get /presence/users/{id}` → `getPresenceUsersId`: stable, and what code generators name methods after. */
function operationId(op: ApiOperation): string {
  const words = op.path.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  return op.method.toLowerCase() + words.map((w) => w[0]?.toUpperCase() + w.slice(1)).join('');
}

const SECURITY_SCHEMES = {
  subscriberToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A subscriber token: `sub` is the user id, `groups` the groups it may join, `exp` required.',
  },
  subscriberCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: 'herald_token',
    description: "The subscriber token in a cookie: what a browser's EventSource can carry.",
  },
  subscriberQuery: {
    type: 'apiKey',
    in: 'query',
    name: 'token',
    description: 'The subscriber token in the URL: the last resort (URLs reach access logs).',
  },
  publisher: {
    type: 'http',
    scheme: 'bearer',
    description:
      'The publish key (`--publish-key`), the admin key, or a JWT with `"herald": {"publish": true}` (HS256 with `--jwt-secret`, or RS256/ES256).',
  },
  admin: {
    type: 'http',
    scheme: 'bearer',
    description: 'The admin key (`--admin-key`) or a JWT with `"herald": {"admin": true}`.',
  },
} as const;

const SECURITY: Record<Caller, readonly Record<string, never[]>[]> = {
  anyone: [],
  subscriber: [{ subscriberToken: [] }, { subscriberCookie: [] }, { subscriberQuery: [] }],
  publisher: [{ publisher: [] }],
  admin: [{ admin: [] }],
  'publisher-or-admin': [{ publisher: [] }, { admin: [] }],
};

/** The package's version, for `info.version`. */
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
