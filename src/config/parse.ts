/** Small parsers for environment values: each knows its default, its doc line and the form it expects. */
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };
export interface Spec<T> {
  default: T;
  doc: string;
  parse(raw: string): Parsed<T>;
  /** Holds (or may hold) a secret: an error about it never repeats the value. */
  secret?: boolean;
}

/** Marks a setting secret, so a bad value is reported by name and form only. */
export function secret<T>(spec: Spec<T>): Spec<T> {
  return { ...spec, secret: true };
}

const fail = (expected: string) => ({ ok: false, expected }) as const;

export function str(def: string, doc: string): Spec<string> {
  return { default: def, doc, parse: (raw) => ({ ok: true, value: raw }) };
}

export function int(def: number, doc: string, min: number, max: number): Spec<number> {
  return {
    default: def,
    doc,
    parse(raw) {
      const n = Number(raw);
      return /^-?\d+$/.test(raw) && n >= min && n <= max
        ? { ok: true, value: n }
        : fail(`an integer from ${min} to ${max}`);
    },
  };
}

export function bool(def: boolean, doc: string): Spec<boolean> {
  return {
    default: def,
    doc,
    parse(raw) {
      const v = raw.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return { ok: true, value: true };
      if (['0', 'false', 'no', 'off'].includes(v)) return { ok: true, value: false };
      return fail('true or false');
    },
  };
}

export function oneOf<T extends string>(def: T, choices: readonly T[], doc: string): Spec<T> {
  return {
    default: def,
    doc,
    parse: (raw) =>
      (choices as readonly string[]).includes(raw)
        ? { ok: true, value: raw as T }
        : fail(`one of ${choices.join(', ')}`),
  };
}

export function pattern(def: string, doc: string): Spec<string> {
  return {
    default: def,
    doc,
    parse(raw) {
      try {
        new RegExp(raw);
        return { ok: true, value: raw };
      } catch {
        return fail('a valid regular expression');
      }
    },
  };
}

export function url(def: string, doc: string): Spec<string> {
  return {
    default: def,
    doc,
    parse(raw) {
      try {
        const u = new URL(raw);
        return u.protocol === 'http:' || u.protocol === 'https:'
          ? { ok: true, value: raw }
          : fail('an http(s) URL');
      } catch {
        return fail('an http(s) URL');
      }
    },
  };
}

/**
 * A JSON value checked against a TypeBox schema; the error names the first few offending
 * paths (`/vllm/base_url: must be string`), so a typo in a nested setting is found at start.
 */
export function json<T>(def: T, doc: string, schema: TSchema): Spec<T> {
  const check = Compile(schema);
  return {
    default: def,
    doc,
    parse(raw) {
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch (err) {
        // Node's message quotes the input, which may hold keys: keep only where it broke.
        const at = /position (\d+)/.exec((err as Error).message)?.[1];
        return fail(`valid JSON${at ? ` (syntax error at position ${at})` : ''}`);
      }
      if (check.Check(value)) return { ok: true, value: value as T };
      const problems = [...check.Errors(value)]
        .filter((e) => e.keyword !== 'boolean' && e.keyword !== 'const')
        .slice(0, 3)
        .map((e) => `${e.instancePath || '/'}: ${e.message}`);
      return fail(`JSON of the documented shape (${problems.join('; ')})`);
    },
  };
}

export interface BackendCount {
  backend: string;
  count: number;
}

/**
 * `sandbox:2,command:1`: how many in-process workers drive each backend. Names are checked
 * against the known backends where the pool is built (config knows no backends).
 */
export function backendCounts(doc: string, maxTotal: number): Spec<BackendCount[]> {
  const item = /^([a-z][a-z0-9_-]*)(?::(\d+))?$/;
  return {
    default: [],
    doc,
    parse(raw) {
      const expected = `a comma list of backend:count (e.g. sandbox:2,command:1), at most ${maxTotal} workers in all`;
      const out: BackendCount[] = [];
      for (const part of raw.split(',').map((p) => p.trim())) {
        const m = item.exec(part);
        if (!m) return fail(expected);
        const count = m[2] === undefined ? 1 : Number(m[2]);
        if (out.some((b) => b.backend === m[1])) return fail(`${expected}; each backend once`);
        out.push({ backend: m[1]!, count });
      }
      const total = out.reduce((n, b) => n + b.count, 0);
      return total <= maxTotal ? { ok: true, value: out } : fail(expected);
    },
  };
}
