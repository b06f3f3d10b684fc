import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { API_OPERATIONS } from '../../src/http/api-operations.js';
import { API_SCHEMAS } from '../../src/http/api-schemas.js';
import { undescribedRoutes } from '../../src/http/openapi.js';
import { DEFAULT_MAX_TTL_MS } from '../../src/http/publish-request.js';
import { bearer, type JsonResponse, request, tokenFor } from '../helpers/auth.js';
import { startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { DocumentSchemas, type OpenApiDocument, openApi31Validator } from '../helpers/openapi.js';
import { messageLike, nameText, publishBodyLike } from '../helpers/publish-arbitraries.js';
import { openSse } from '../helpers/sse-client.js';

const PUBLISHER = bearer(TEST_KEYS.publishKey);
const ADMIN = bearer(TEST_KEYS.adminKey);

/** What an answer is checked on. */
interface Answer {
  readonly status: number;
  readonly type: string;
  readonly body?: unknown;
}

/** The media type of a `Content-Type` header, without its parameters. */
const mediaType = (header: string | null | undefined): string => (header ?? '').split(';')[0]?.trim() ?? '';

describe('GET /openapi.json describes the API the server validates with', () => {
  let node: TestHerald;
  let document: OpenApiDocument;
  let schemas: DocumentSchemas;
  /** Fastify's own JSON parser, as the server's: it refuses `__proto__` keys, which no schema says. */
  let parsesAsJson: (text: string) => boolean;

  before(async () => {
    // The document gives the default --inbox-max-ttl as ttl's maximum: the node runs with it.
    node = await startSecureHerald({ publishRate: 0, inboxMaxTtlMs: DEFAULT_MAX_TTL_MS });
    const response = await fetch(`${node.url}/openapi.json`);
    assert.equal(response.status, 200);
    assert.equal(mediaType(response.headers.get('content-type')), 'application/json');
    document = await response.json();
    schemas = new DocumentSchemas(document);
    const parser = node.herald.app.getDefaultJsonParser('error', 'error');
    parsesAsJson = (text) => {
      let ok = false;
      void parser(undefined as never, text, (error) => {
        ok = error === null;
      });
      return ok;
    };
  });
  after(() => node.close());

  /**
   * Asserts that an answer is one the document gives for the operation: its status is listed, its media
   * type is the listed one, and its JSON body matches the listed schema (problems: the Problem schema).
   */
  function assertDocumented(method: string, path: string, status: number, type: string, body: unknown): void {
    const operation = document.paths[path]?.[method.toLowerCase()];
    assert.ok(operation !== undefined, `${method} ${path} is not in the document`);
    const response = operation.responses[String(status)];
    assert.ok(
      response !== undefined,
      `${method} ${path} answered ${status}, which the document does not list`,
    );
    const content = response.content?.[type];
    assert.ok(content !== undefined, `${method} ${path} ${status}: ${type} is not a documented media type`);
    if (type.endsWith('json')) {
      const { valid, why } = schemas.check(content.schema, body);
      assert.ok(valid, `${method} ${path} ${status}: ${JSON.stringify(body)} does not match: ${why}`);
    }
  }

  const documented = (method: string, path: string, answer: JsonResponse): void =>
    assertDocumented(method, path, answer.status, mediaType(answer.headers.get('content-type')), answer.body);

  test('the document is valid OpenAPI 3.1 (the official schema) and its schemas compile strictly', () => {
    const validate = openApi31Validator();
    assert.ok(validate(document as object), JSON.stringify(validate.errors?.slice(0, 3)));
    assert.equal(document.openapi, '3.1.0');
    schemas.compileAll(Object.keys(document.components.schemas));
  });

  test('every route the server registers is described, and every described route is in the document', () => {
    assert.deepEqual(undescribedRoutes(node.herald.app), []);
    const inDocument = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item as object).map((method) => `${method.toUpperCase()} ${path}`),
    );
    assert.deepEqual(inDocument.sort(), API_OPERATIONS.map((op) => `${op.method} ${op.path}`).sort());
  });

  test("the document's request bodies are the schemas the validators are checked against", () => {
    assert.deepEqual(document.components.schemas, JSON.parse(JSON.stringify(API_SCHEMAS)));
    const bodyOf = (path: string): unknown =>
      document.paths[path].post.requestBody.content['application/json'].schema;
    assert.deepEqual(bodyOf('/messages'), { $ref: '#/components/schemas/PublishRequest' });
    assert.deepEqual(bodyOf('/admin/api/messages'), { $ref: '#/components/schemas/Message' });
  });

  /** Sends random bodies and checks that the server refuses exactly those the document calls invalid. */
  async function bodiesAgree(
    path: string,
    headers: Record<string, string>,
    bodies: fc.Arbitrary<unknown>,
    numRuns: number,
  ): Promise<void> {
    const schema = document.paths[path].post.requestBody.content['application/json'].schema;
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const text = JSON.stringify(body);
        const answer = await request(`${node.url}${path}`, { headers, body: text });
        const { valid, why } = schemas.check(schema, JSON.parse(text));
        const said = `${text} (${valid ? 'valid' : `invalid: ${why}`}) answered ${answer.status} ${JSON.stringify(answer.body)}`;
        if (!parsesAsJson(text)) {
          assert.equal(answer.status, 400, said);
          assert.equal(answer.body.type, '/problems/malformed-json', said);
        } else if (!valid) {
          assert.equal(answer.status, 400, said);
          assert.equal(answer.body.type, '/problems/invalid-request', said);
        } else {
          // A valid body whose publisher-chosen id was used before is refused after validation, as documented.
          assert.ok(answer.status === 202 || answer.body?.type?.endsWith('/duplicate-id'), said);
        }
        documented('POST', path, answer);
      }),
      { numRuns },
    );
  }

  test('POST /messages refuses with 400 exactly the bodies the document calls invalid, and accepts the rest', async () => {
    await bodiesAgree('/messages', PUBLISHER, publishBodyLike, 300);
  });

  test('POST /admin/api/messages refuses with 400 exactly the bodies the document calls invalid', async () => {
    await bodiesAgree('/admin/api/messages', ADMIN, fc.oneof(messageLike, publishBodyLike), 100);
  });

  test('a user id in the path is refused with 400 exactly when the document calls it invalid', async () => {
    const parameter = document.paths['/presence/users/{id}'].get.parameters[0];
    // A lone surrogate cannot be percent-encoded (UTF-8 has no bytes for it), and URL parsers remove the
    // segments `.` and `..` (even percent-encoded): no URL carries those as a path parameter.
    const addressable = nameText.filter((id) => id.isWellFormed() && id !== '.' && id !== '..');
    await fc.assert(
      fc.asyncProperty(addressable, async (id) => {
        const answer = await request(`${node.url}/presence/users/${encodeURIComponent(id)}`, {
          headers: PUBLISHER,
        });
        const { valid } = schemas.check(parameter.schema, id);
        assert.equal(
          answer.status,
          valid ? 200 : 400,
          `${JSON.stringify(id)}: ${JSON.stringify(answer.body)}`,
        );
        documented('GET', '/presence/users/{id}', answer);
      }),
      { numRuns: 200 },
    );
  });

  test('a page limit is refused with 400 exactly when the document calls it invalid', async () => {
    const listings: [path: string, url: string, headers: Record<string, string>][] = [
      ['/presence/users', '/presence/users', ADMIN],
      ['/admin/api/users', '/admin/api/users', ADMIN],
      ['/users/{id}/inbox', '/users/alice/inbox', PUBLISHER],
      ['/inbox', '/inbox', bearer(await tokenFor('alice'))],
    ];
    for (const [path, at, headers] of listings) {
      const limit = document.paths[path].get.parameters.find((p: { name: string }) => p.name === 'limit');
      for (const value of [-1, 0, 1, 2, 50, 100, 999, 1000, 1001, 5000]) {
        const answer = await request(`${node.url}${at}?limit=${value}`, { headers });
        const { valid } = schemas.check(limit.schema, value);
        assert.equal(answer.status, valid ? 200 : 400, `${at}?limit=${value}`);
        documented('GET', path, answer);
      }
    }
  });

  test('every operation answers as documented: its success and its problems (application/problem+json)', async () => {
    const subscriber = await tokenFor('alice');
    const url = (path: string): string => `${node.url}${path}`;
    const call = async (path: string, init: Parameters<typeof request>[1] = {}): Promise<Answer> => {
      const answer = await request(url(path), init);
      return {
        status: answer.status,
        type: mediaType(answer.headers.get('content-type')),
        body: answer.body,
      };
    };
    /** A stream's status and type; for a refusal, its problem body. */
    const streamAnswer = async (path: string, headers: Record<string, string>): Promise<Answer> => {
      const stream = await openSse(url(path), headers);
      const type = mediaType(stream.headers['content-type']);
      if (stream.status === 200) {
        stream.close();
        return { status: 200, type };
      }
      await stream.ended;
      return { status: stream.status, type, body: JSON.parse(stream.raw()) };
    };
    // One call per documented answer worth checking, by operation; every operation has at least one.
    const calls: Record<string, () => Promise<Answer[]>> = {
      'GET /events': async () => [
        await streamAnswer('/events', bearer(subscriber)),
        await streamAnswer('/events?group=payroll', bearer(subscriber)),
        await streamAnswer('/events', {}),
      ],
      'GET /poll': async () => [await call('/poll', { headers: bearer(subscriber) }), await call('/poll')],
      'POST /messages': async () => [
        await call('/messages', { headers: PUBLISHER, body: { to: { users: ['alice'] }, data: 1 } }),
        await call('/messages', { headers: PUBLISHER, body: [{ to: { all: true }, data: 1 }] }),
        await call('/messages', { headers: PUBLISHER, body: { to: {}, data: 1 } }),
        await call('/messages', { headers: PUBLISHER, body: '{"to":' }),
        await call('/messages', { body: { to: { all: true }, data: 1 } }),
        await call('/messages', { headers: bearer(subscriber), body: { to: { all: true }, data: 1 } }),
        await call('/messages', { headers: { ...PUBLISHER, 'content-type': 'text/plain' }, body: 'hi' }),
        await call('/messages', {
          headers: PUBLISHER,
          body: { to: { all: true }, data: 'x'.repeat(70_000) },
        }),
        await call('/messages', { headers: PUBLISHER, body: { to: { all: true }, data: 1, id: 'twice' } }),
        await call('/messages', { headers: PUBLISHER, body: { to: { all: true }, data: 1, id: 'twice' } }),
        await call('/messages', { headers: PUBLISHER, body: { to: { users: ['carol'] }, data: 1, ttl: 60 } }),
        await call('/messages', {
          headers: PUBLISHER,
          body: { to: { users: ['carol'] }, data: 1, ttl: DEFAULT_MAX_TTL_MS / 1000 + 1 },
        }),
      ],
      'GET /inbox': async () => [
        await call('/inbox', { headers: bearer(subscriber) }),
        await call('/inbox?limit=0', { headers: bearer(subscriber) }),
        await call('/inbox?group=payroll', { headers: bearer(subscriber) }),
        await call('/inbox'),
      ],
      'POST /inbox/ack': async () => {
        const toBob = await request(url('/messages'), {
          headers: PUBLISHER,
          body: { to: { users: ['bob'] }, data: 'for bob', ttl: 60 },
        });
        assert.equal(toBob.status, 202);
        const headers = bearer(subscriber);
        return [
          await call('/inbox/ack', { headers, body: { ids: ['1-0', 'never'] } }),
          await call('/inbox/ack', { headers, body: { through: toBob.body.id } }),
          await call('/inbox/ack', { headers, body: { through: 'a', ids: ['b'] } }),
          await call('/inbox/ack', { body: { ids: ['a'] } }),
        ];
      },
      'GET /users/{id}/inbox': async () => {
        const toDave = await request(url('/messages'), {
          headers: PUBLISHER,
          body: { to: { users: ['dave'] }, event: 'order', data: { total: 12 }, ttl: 60 },
        });
        assert.equal(toDave.status, 202);
        return [
          await call('/users/dave/inbox', { headers: PUBLISHER }),
          await call('/users/a%20b/inbox', { headers: PUBLISHER }),
          await call('/users/dave/inbox', { headers: bearer(subscriber) }),
        ];
      },
      'DELETE /users/{id}/inbox': async () => [
        await call('/users/dave/inbox', { method: 'DELETE', headers: PUBLISHER }),
      ],
      'GET /users/{id}/groups': async () => [await call('/users/alice/groups', { headers: PUBLISHER })],
      'PUT /users/{id}/groups': async () => [
        await call('/users/erin/groups', { method: 'PUT', headers: PUBLISHER, body: { groups: ['team-a'] } }),
        await call('/users/erin/groups', { method: 'PUT', headers: PUBLISHER, body: { groups: 'team-a' } }),
        await call('/users/erin/groups', { method: 'PUT', body: { groups: [] } }),
      ],
      'PATCH /users/{id}/groups': async () => [
        await call('/users/erin/groups', {
          method: 'PATCH',
          headers: PUBLISHER,
          body: { add: ['team-b'], remove: ['team-a'] },
        }),
        await call('/users/erin/groups', { method: 'PATCH', headers: PUBLISHER, body: {} }),
      ],
      'DELETE /users/{id}/groups': async () => [
        await call('/users/erin/groups', { method: 'DELETE', headers: PUBLISHER }),
      ],
      'GET /presence': async () => [await call('/presence', { headers: PUBLISHER }), await call('/presence')],
      'GET /presence/events': async () => [
        await streamAnswer('/presence/events', PUBLISHER),
        await streamAnswer('/presence/events', ADMIN),
        await streamAnswer('/presence/events', bearer(subscriber)),
        await streamAnswer('/presence/events', {}),
      ],
      'GET /presence/users': async () => [await call('/presence/users?limit=2', { headers: PUBLISHER })],
      'GET /presence/users/{id}': async () => [
        await call('/presence/users/alice', { headers: PUBLISHER }),
        await call('/presence/users/a%20b', { headers: PUBLISHER }),
      ],
      'DELETE /users/{id}/connections': async () => [
        await call('/users/alice/connections', { method: 'DELETE', headers: PUBLISHER }),
      ],
      'GET /healthz': async () => [await call('/healthz')],
      'GET /readyz': async () => [await call('/readyz')],
      'GET /herald.js': async () => [await call('/herald.js')],
      'GET /openapi.json': async () => [await call('/openapi.json')],
      'GET /metrics': async () => [
        await call('/metrics', { headers: ADMIN }),
        await call('/metrics', { headers: PUBLISHER }),
      ],
      // The memory log keeps no file: 404 (test/integration/backup.test.ts takes a copy of an SQLite log).
      'GET /admin/api/backup': async () => [
        await call('/admin/api/backup', { headers: ADMIN }),
        await call('/admin/api/backup'),
      ],
      'GET /admin/api/stats': async () => [await call('/admin/api/stats', { headers: ADMIN })],
      'GET /admin/api/users': async () => [await call('/admin/api/users', { headers: ADMIN })],
      'GET /admin/api/users/{id}': async () => [await call('/admin/api/users/alice', { headers: ADMIN })],
      'DELETE /admin/api/users/{id}/connections': async () => [
        await call('/admin/api/users/alice/connections', { method: 'DELETE', headers: ADMIN }),
      ],
      'POST /admin/api/messages': async () => [
        await call('/admin/api/messages', { headers: ADMIN, body: { to: { all: true }, data: 1 } }),
        await call('/admin/api/messages', { headers: PUBLISHER, body: { to: { all: true }, data: 1 } }),
      ],
      'GET /admin/stream': async () => [await streamAnswer('/admin/stream', ADMIN)],
      'GET /sse/subscribe/{userId}': async () => [
        await streamAnswer('/sse/subscribe/alice', bearer(subscriber)),
        await streamAnswer('/sse/subscribe/bob', bearer(subscriber)),
      ],
      'GET /sse/sendMessage': async () => [
        await call('/sse/sendMessage?userId=alice&message=hi', { headers: PUBLISHER }),
        await call('/sse/sendMessage?userId=alice', { headers: PUBLISHER }),
      ],
      'GET /sse/groupSendMessage': async () => [
        await call('/sse/groupSendMessage?groupId=shop-&message=hi', { headers: PUBLISHER }),
      ],
      'GET /sse/batchSendMessage': async () => [
        await call('/sse/batchSendMessage?message=hi', { headers: PUBLISHER }),
      ],
      'GET /sse/close/{userId}': async () => [await call('/sse/close/alice', { headers: PUBLISHER })],
      'GET /sse/getUserCount': async () => [await call('/sse/getUserCount', { headers: PUBLISHER })],
    };
    assert.deepEqual(
      Object.keys(calls).sort(),
      API_OPERATIONS.map((op) => `${op.method} ${op.path}`).sort(),
      'one entry per documented operation',
    );
    const problems = new Set<number>();
    for (const [key, run] of Object.entries(calls)) {
      const [method, path] = key.split(' ') as [string, string];
      for (const answer of await run()) {
        assertDocumented(method, path, answer.status, answer.type, answer.body);
        if (answer.status >= 400) {
          assert.equal(answer.type, 'application/problem+json', `${key} ${answer.status}`);
          problems.add(answer.status);
        }
      }
    }
    // The problems met above, each checked against the document's Problem schema.
    assert.deepEqual([...problems].sort(), [400, 401, 403, 404, 409, 413, 415]);
  });
});
