/**
 * Shared schemas named once in the OpenAPI document (`components.schemas`) and referenced
 * with `$ref` everywhere else. Without this every route inlines its own copy of the task, the
 * error body and the rest, and the document is a quarter of a megabyte of repeats.
 *
 * Only the document changes: routes keep their schemas whole, because Fastify validates
 * requests (validation.ts compiles each route schema alone, with no shared registry) and
 * serializes responses with them. A named schema is recognised by identity (TypeBox reuses
 * the object wherever it is embedded), or as a copy that only adds its own `description`
 * (how a route says what a response means: see `described` in schemas/common.ts).
 */
import type { FastifySchema } from 'fastify';

type Json = Record<string, unknown>;

export const COMPONENTS_PATH = '#/components/schemas/';

/** Keywords whose values are data, not schemas: never replaced, never walked into. */
const DATA_KEYWORDS = new Set(['examples', 'example', 'default', 'enum', 'const']);

export interface SchemaNamer {
  /** `components.schemas`: each named schema, with the others inside it as references. */
  components(): Record<string, Json>;
  /** A route schema as the document shows it (request bodies keep their root inline). */
  route(schema: FastifySchema): FastifySchema;
}

export function schemaNamer(named: Readonly<Record<string, object>>): SchemaNamer {
  const nameByObject = new Map<object, string>();
  for (const [name, schema] of Object.entries(named)) {
    if (nameByObject.has(schema)) throw new Error(`schema named twice: ${nameByObject.get(schema)}, ${name}`);
    nameByObject.set(schema, name);
  }

  function nameOf(node: Json): string | undefined {
    const direct = nameByObject.get(node);
    if (direct !== undefined || typeof node.description !== 'string') return direct;
    for (const [schema, name] of nameByObject) if (copyWithDescription(node, schema as Json)) return name;
    return undefined;
  }

  function refTo(name: string, node: Json): Json {
    const own = node.description;
    const ref: Json = { $ref: COMPONENTS_PATH + name };
    // A description of its own is what a response means here; the component keeps its own.
    return typeof own === 'string' && own !== (named[name] as Json).description
      ? { ...ref, description: own }
      : ref;
  }

  function replace(node: unknown, keepRoot: boolean): unknown {
    if (Array.isArray(node)) return node.map((item) => replace(item, false));
    if (node === null || typeof node !== 'object') return node;
    const schema = node as Json;
    if (!keepRoot) {
      const name = nameOf(schema);
      if (name !== undefined) return refTo(name, schema);
    }
    const out: Json = {};
    for (const [key, value] of Object.entries(schema))
      out[key] = DATA_KEYWORDS.has(key) ? value : replace(value, false);
    return out;
  }

  return {
    components: () =>
      Object.fromEntries(
        Object.entries(named).map(([name, schema]) => [name, replace(schema, true) as Json]),
      ),
    route(schema) {
      const out: Json = { ...schema };
      // Swagger UI builds "Try it out" from an inline body (its examples sit on the root).
      if (schema.body) out.body = replace(schema.body, true);
      if (schema.response) out.response = replace(schema.response, true);
      return out as FastifySchema;
    },
  };
}

/** The same keys with the same values (by identity), except a `description` of its own. */
function copyWithDescription(node: Json, schema: Json): boolean {
  const keys = Object.keys(node).filter((k) => k !== 'description');
  const schemaKeys = Object.keys(schema).filter((k) => k !== 'description');
  return (
    keys.length > 0 &&
    keys.length === schemaKeys.length &&
    keys.every((k) => Object.hasOwn(schema, k) && node[k] === schema[k])
  );
}

const RESPONSES_PATH = '#/components/responses/';

/**
 * Error responses that several operations share word for word (same status, description and
 * body schema) become one entry of `components.responses` (`Error404`, `OpenAiError401`…),
 * referenced by each operation. Success responses stay inline: each says what it means there.
 */
export function shareErrorResponses(doc: Json): Json {
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>;
  const operations = Object.values(paths).flatMap((item) =>
    Object.values(item).filter(
      (op): op is Json => typeof op === 'object' && op !== null && 'responses' in op,
    ),
  );
  const uses = new Map<string, number>();
  const each = (visit: (responses: Json, status: string, key: string, name: string) => void) => {
    for (const op of operations) {
      const responses = op.responses as Json;
      for (const [status, response] of Object.entries(responses)) {
        const name = sharedName(status, response as Json);
        if (name) visit(responses, status, JSON.stringify(response), name);
      }
    }
  };
  each((_r, _s, key) => uses.set(key, (uses.get(key) ?? 0) + 1));
  const shared: Record<string, Json> = {};
  const nameByKey = new Map<string, string>();
  each((responses, status, key, name) => {
    if ((uses.get(key) ?? 0) < 2) return;
    let unique = nameByKey.get(key);
    if (unique === undefined) {
      // Two different bodies for one status and schema (a route's own wording) get a suffix.
      unique = name;
      for (let n = 2; shared[unique] !== undefined; n++) unique = `${name}_${n}`;
      nameByKey.set(key, unique);
      shared[unique] = responses[status] as Json;
    }
    responses[status] = { $ref: RESPONSES_PATH + unique };
  });
  const components = (doc.components ?? {}) as Json;
  return {
    ...doc,
    components: { ...components, responses: { ...(components.responses as Json), ...sortedByKey(shared) } },
  };
}

/** `Error404` for a 4xx/5xx response whose only body is a named schema; undefined otherwise. */
function sharedName(status: string, response: Json): string | undefined {
  if (!/^[45]\d\d$/.test(status)) return undefined;
  const content = Object.values((response.content ?? {}) as Record<string, Json>);
  const ref = content.length === 1 ? (content[0]?.schema as Json | undefined)?.$ref : undefined;
  return typeof ref === 'string' && ref.startsWith(COMPONENTS_PATH)
    ? `${ref.slice(COMPONENTS_PATH.length)}${status}`
    : undefined;
}

const sortedByKey = (o: Record<string, Json>) =>
  Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
