/**
 * Request validation with the same TypeBox schemas that feed OpenAPI.
 *
 * Bodies are checked as sent (no coercion: `"priority": "7"` or `null` where a number is due is
 * a client bug worth a 422, not a guess; so is an array or a string where an object is due,
 * and an unknown field on a schema that says `additionalProperties: false`, named in the
 * details). Query strings, path parameters and headers arrive
 * as text, so they are converted first, strictly: only a canonical literal changes type
 * (`limit=5` → 5, `include_logs=True` → true, a lone `label=a=b` → ['a=b']). TypeBox's own
 * Value.Convert is not used because it guesses (`num_workers=` → 0, `1.5` → 1, `true` → 1),
 * and an empty scale parameter silently stopping every worker is not a guess to make.
 * Failures become a 422 whose details list each field and the reason, in plain words.
 */
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema);
  return (input: unknown) => {
    // A POST without a body is read as {}: the route then reports its required fields by
    // name, and routes whose fields are all optional (heartbeat, release) accept it. Fastify
    // hands a missing body over as null, so a JSON `null` body never gets here: body.ts
    // refuses it (taken as {}, it completed or failed a task fenced by worker id only).
    const value = httpPart === 'body' ? (input ?? {}) : coerceFields(schema, input);
    if (check.Check(value)) return { value };
    return { error: [...check.Errors(value)] as unknown as FastifySchemaValidationError[] };
  };
};

type Schemaish = {
  type?: unknown;
  anyOf?: Schemaish[];
  items?: Schemaish;
  properties?: Record<string, Schemaish>;
};

const INTEGER = /^-?\d{1,15}$/;
const NUMBER = /^-?\d{1,15}(\.\d+)?([eE][+-]?\d{1,3})?$/;

function typesOf(s: Schemaish): unknown[] {
  return s.anyOf ? s.anyOf.flatMap(typesOf) : [s.type];
}

function coerceScalar(s: Schemaish, v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const types = typesOf(s);
  if (types.includes('integer') && INTEGER.test(v)) return Number(v);
  if (types.includes('number') && NUMBER.test(v)) return Number(v);
  // Python's requests sends True as 'True'; 1/0 are the other common spelling.
  if (types.includes('boolean') && /^(true|false|1|0)$/i.test(v)) return /^(true|1)$/i.test(v);
  return v;
}

/** Flat objects only (query, path, headers): each known field converted by its schema. */
function coerceFields(schema: TSchema, input: unknown): unknown {
  const props = (schema as Schemaish).properties;
  if (!props || input === null || typeof input !== 'object') return input;
  const out: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const [key, s] of Object.entries(props)) {
    const v = out[key];
    if (v === undefined) continue;
    if (s.type === 'array')
      out[key] = (Array.isArray(v) ? v : [v]).map((x) => coerceScalar(s.items ?? {}, x));
    else out[key] = coerceScalar(s, v);
  }
  return out;
}

export interface FieldError {
  field: string;
  reason: string;
  allowed?: unknown[];
}

interface RawError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

const LOCATIONS: Record<string, string> = { querystring: 'query', params: 'path' };

/** '/tasks/3/max_steps' → 'tasks[3].max_steps' */
function fieldName(path: string, extra?: string): string {
  const parts = path.split('/').slice(1);
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) {
    const key = p.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out === '' ? key : `.${key}`;
  }
  return out === '' ? '(root)' : out;
}

function describeOne(e: RawError): FieldError[] {
  const field = fieldName(e.instancePath);
  switch (e.keyword) {
    case 'required':
      return ((e.params.requiredProperties as string[]) ?? []).map((p) => ({
        field: fieldName(e.instancePath, p),
        reason: 'is required',
      }));
    case 'enum': {
      const allowed = (e.params.allowedValues as unknown[]) ?? [];
      return [{ field, reason: `must be one of: ${allowed.join(', ')}`, allowed }];
    }
    case 'additionalProperties': {
      // One entry per unknown key, named like any other field: a typo (`atempt`) is found at once.
      const keys = (e.params.additionalProperties as string[]) ?? [];
      return keys.map((k) => ({
        field: fieldName(e.instancePath, k),
        reason: 'is not an accepted field or key',
      }));
    }
    case 'pattern':
      return [{ field, reason: `must match ${String(e.params.pattern)}` }];
    default:
      return [{ field, reason: e.message ?? e.keyword }];
  }
}

/** Errors of one union (nullable field): prefer a constraint failure over "wrong type" noise. */
function describeUnion(field: string, branchErrors: RawError[]): FieldError[] {
  const constraints = branchErrors.filter((e) => e.keyword !== 'type');
  if (constraints.length > 0) return constraints.flatMap(describeOne);
  const types = [...new Set(branchErrors.map((e) => String(e.params.type)))];
  return [{ field, reason: `must be ${types.join(' or ')}` }];
}

/** One validation issue as FastAPI (pydantic 2) lists it under `detail`. */
export interface FastApiIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
}

/** Our reasons (describeOne's wording) → pydantic's error types, for `detail[].type`. */
const PYDANTIC_TYPES: readonly (readonly [RegExp, string])[] = [
  [/^is required/, 'missing'],
  [/^is not an accepted field/, 'extra_forbidden'],
  [/^must be one of/, 'enum'],
  [/^must match/, 'string_pattern_mismatch'],
];

/** 'tasks[3].max_steps' → ['tasks', 3, 'max_steps']; '(root)' → []. */
function locOf(field: string): (string | number)[] {
  if (field === '(root)') return [];
  return field
    .split(/\.|(?=\[)/)
    .map((p) => (/^\[\d+\]$/.test(p) ? Number(p.slice(1, -1)) : p))
    .filter((p) => p !== '');
}

const FASTAPI_LOCATIONS: Record<string, string> = { headers: 'header', request: 'body' };

/**
 * FastAPI's `detail` list for a validation error's details (`{ location, errors }`), or
 * undefined when the details list no field errors. `loc` starts with where the field was
 * (body, query, path, header), as FastAPI's does.
 */
export function toFastApiIssues(details: Record<string, unknown>): FastApiIssue[] | undefined {
  const errors = details.errors;
  if (!Array.isArray(errors)) return undefined;
  const where = String(details.location ?? 'body');
  const location = FASTAPI_LOCATIONS[where] ?? where;
  return (errors as Partial<FieldError>[]).map((e) => {
    const reason = String(e.reason ?? 'is invalid');
    return {
      type: PYDANTIC_TYPES.find(([re]) => re.test(reason))?.[1] ?? 'value_error',
      loc: [location, ...locOf(String(e.field ?? '(root)'))],
      msg: `${e.field ?? 'value'} ${reason}`,
    };
  });
}

export function describeValidation(errors: readonly unknown[], context: string | undefined) {
  const raw = errors as RawError[];
  const out: FieldError[] = [];
  const unions = new Map<string, RawError[]>();
  for (const e of raw) {
    if (e.keyword === 'anyOf' || e.keyword === 'boolean') continue; // summaries of other entries
    if (e.schemaPath.includes('/anyOf/')) {
      const list = unions.get(e.instancePath) ?? [];
      list.push(e);
      unions.set(e.instancePath, list);
    } else out.push(...describeOne(e));
  }
  const paths = raw.map((e) => e.instancePath);
  for (const [path, list] of unions) {
    // An object-or-null field whose object failed inside: the "must be null" branch is noise.
    const deeper = paths.some((p) => p.startsWith(`${path}/`));
    if (deeper && list.every((e) => e.keyword === 'type')) continue;
    out.push(...describeUnion(fieldName(path), list));
  }
  const location = context ? (LOCATIONS[context] ?? context) : 'request';
  return { location, errors: out };
}
