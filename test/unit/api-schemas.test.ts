import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { API_SCHEMAS } from '../../src/http/api-schemas.js';
import { openApiDocument } from '../../src/http/openapi.js';
import { parseBatch, parseMessage } from '../../src/http/publish-request.js';
import { checkEventName, checkName, checkPublisherId } from '../../src/protocol/grammar.js';
import { DocumentSchemas } from '../helpers/openapi.js';
import { messageLike, nameText, publishBodyLike } from '../helpers/publish-arbitraries.js';

/**
 * The schemas `GET /openapi.json` publishes against the validators the server runs: for random bodies
 * near the edge of validity, each accepts exactly what the other accepts. (The same over HTTP, against
 * the served document, is in test/integration/openapi.test.ts.)
 */

const schemas = new DocumentSchemas(openApiDocument([]));
/** What the server sees: the value after a JSON round trip. */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');

/** Whether `validate` accepts `value`, and its complaint when not. */
function verdict(validate: () => unknown): { valid: boolean; why: string } {
  try {
    validate();
    return { valid: true, why: '' };
  } catch (error) {
    return { valid: false, why: (error as Error).message };
  }
}

function agree(schemaName: string, value: unknown, validator: (value: unknown) => unknown): void {
  const body = wire(value);
  const bySchema = schemas.check({ $ref: `#/components/schemas/${schemaName}` }, body);
  const byServer = verdict(() => validator(body));
  assert.equal(
    bySchema.valid,
    byServer.valid,
    `${JSON.stringify(body)}: the ${schemaName} schema says ${bySchema.valid ? 'valid' : `invalid (${bySchema.why})`}, the validator ${byServer.valid ? 'valid' : `invalid (${byServer.why})`}`,
  );
}

describe('the API schemas accept exactly what the validators accept', () => {
  test('every schema compiles as a strict JSON Schema 2020-12', () => {
    schemas.compileAll(Object.keys(API_SCHEMAS));
  });

  test('PublishRequest (POST /messages) accepts exactly the bodies the publish validator accepts', () => {
    const publishValidator = (body: unknown): unknown =>
      Array.isArray(body) ? parseBatch(body) : parseMessage(body);
    fc.assert(
      fc.property(publishBodyLike, (body) => agree('PublishRequest', body, publishValidator)),
      { numRuns: 3000 },
    );
  });

  test('the generated bodies are valid often enough, and invalid often enough, to test both ways', () => {
    const sample = fc.sample(publishBodyLike, { numRuns: 2000, seed: 17 });
    const valid = sample.filter((body) => schemas.check(API_SCHEMAS.PublishRequest, wire(body)).valid).length;
    assert.ok(valid > 300 && valid < 1700, `${valid} of 2000 generated bodies are valid`);
  });

  test('Message (POST /admin/api/messages) accepts exactly what the message validator accepts', () => {
    fc.assert(
      fc.property(fc.oneof(messageLike, publishBodyLike), (body) => agree('Message', body, parseMessage)),
      { numRuns: 1000 },
    );
  });

  test('Name, EventName and PublisherId accept exactly the strings the grammar accepts', () => {
    const throwing =
      (check: (value: unknown) => string | undefined) =>
      (value: unknown): void => {
        const problem = check(value);
        if (problem !== undefined) throw new Error(problem);
      };
    const text = fc.oneof(nameText, fc.string({ maxLength: 70 }), fc.jsonValue({ maxDepth: 0 }));
    fc.assert(
      fc.property(text, (value) => {
        agree(
          'Name',
          value,
          throwing((v) => checkName(v, 'name')),
        );
        agree(
          'EventName',
          value,
          throwing((v) => checkEventName(v)),
        );
        agree(
          'PublisherId',
          value,
          throwing((v) => checkPublisherId(v)),
        );
      }),
      { numRuns: 3000 },
    );
  });
});
