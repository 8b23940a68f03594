/**
 * A small language for the shapes a client expects of a JSON answer (field names and types,
 * some exact values), and a checker that lists every difference, by path. The compatibility
 * table of the Python task executor's fields (test/seed-compat.test.ts) is written in it.
 */

export type Kind = 'string' | 'int' | 'number' | 'bool' | 'uuid' | 'datetime' | 'object' | 'null' | 'text';

export type Spec =
  | Kind
  | { nullable: Spec }
  | { eq: unknown }
  | { oneOf: readonly unknown[] }
  | { match: RegExp }
  | { obj: Fields }
  | { list: Spec; min?: number }
  | { map: Spec }
  | { sub: Record<string, unknown> };

export type Fields = Record<string, Spec>;

export const nullable = (s: Spec): Spec => ({ nullable: s });
export const eq = (v: unknown): Spec => ({ eq: v });
export const oneOf = (values: readonly unknown[]): Spec => ({ oneOf: values });
/** A string matching `re`. */
export const match = (re: RegExp): Spec => ({ match: re });
/** An object with at least these fields (more are welcome: a superset is what we promise). */
export const obj = (fields: Fields): Spec => ({ obj: fields });
export const list = (item: Spec, min = 0): Spec => ({ list: item, min });
/** An object used as a map: any keys, every value of this shape. */
export const map = (value: Spec): Spec => ({ map: value });
/** An object holding at least these values (deeply equal), whatever else it holds. */
export const sub = (values: Record<string, unknown>): Spec => ({ sub: values });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const show = (v: unknown) => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 120 ? `${s.slice(0, 117)}...` : s;
};

function kindOk(v: unknown, k: Kind): boolean {
  switch (k) {
    case 'string':
    case 'text':
      return typeof v === 'string';
    case 'int':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'bool':
      return typeof v === 'boolean';
    case 'uuid':
      return typeof v === 'string' && UUID.test(v);
    case 'datetime':
      return typeof v === 'string' && DATETIME.test(v) && !Number.isNaN(Date.parse(v));
    case 'object':
      return isObject(v);
    case 'null':
      return v === null;
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(normal(a)) === JSON.stringify(normal(b));
}

/** Keys sorted, so two objects with the same entries compare equal. */
function normal(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normal);
  if (isObject(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, normal(v[k])]),
    );
  return v;
}

/** Every way `value` differs from `spec`, as "path: expected …, got …" lines (none: it fits). */
export function differences(value: unknown, spec: Spec, path = 'body'): string[] {
  if (typeof spec === 'string')
    return kindOk(value, spec) ? [] : [`${path}: expected ${spec}, got ${show(value)}`];
  if ('nullable' in spec) return value === null ? [] : differences(value, spec.nullable, path);
  if ('eq' in spec)
    return deepEqual(value, spec.eq) ? [] : [`${path}: expected ${show(spec.eq)}, got ${show(value)}`];
  if ('oneOf' in spec)
    return spec.oneOf.includes(value)
      ? []
      : [`${path}: expected one of ${show(spec.oneOf)}, got ${show(value)}`];
  if ('match' in spec)
    return typeof value === 'string' && spec.match.test(value)
      ? []
      : [`${path}: expected a string matching ${spec.match}, got ${show(value)}`];
  if ('list' in spec) {
    if (!Array.isArray(value)) return [`${path}: expected a list, got ${show(value)}`];
    if (value.length < (spec.min ?? 0))
      return [`${path}: expected at least ${spec.min} item(s), got ${value.length}`];
    return value.flatMap((item, i) => differences(item, spec.list, `${path}[${i}]`));
  }
  if (!isObject(value)) return [`${path}: expected an object, got ${show(value)}`];
  if ('map' in spec)
    return Object.entries(value).flatMap(([k, v]) => differences(v, spec.map, `${path}.${k}`));
  if ('sub' in spec)
    return Object.entries(spec.sub).flatMap(([k, v]) =>
      deepEqual(value[k], v) ? [] : [`${path}.${k}: expected ${show(v)}, got ${show(value[k])}`],
    );
  return Object.entries(spec.obj).flatMap(([k, s]) =>
    k in value ? differences(value[k], s, `${path}.${k}`) : [`${path}.${k}: missing`],
  );
}
