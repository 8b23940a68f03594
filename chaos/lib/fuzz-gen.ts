/**
 * Request generation for the fuzz scenario, from the server's own OpenAPI document: a valid
 * value for a schema (anyOf, enums, patterns by known examples, bounds), and malformed
 * variants — wrong types, huge strings, deep nesting, NUL bytes and lone surrogates, bad
 * JSON, wrong content types, unknown fields, oversized bodies, bad path and query values.
 * Deterministic for a seed.
 */
import { randomUUID } from 'node:crypto';

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema fragments from the OpenAPI document.
export type Schema = any;

export interface Operation {
  method: string;
  path: string;
  params: { in: string; name: string; schema: Schema; required?: boolean }[];
  body: Schema | null;
}

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Which mutation made it (for the report). */
  kind: string;
  /** Only malformed on purpose: it must be refused. */
  malformed: boolean;
}

/** Known-good values the generator mixes in, so valid requests reach deep code paths. */
export interface Pools {
  taskIds: string[];
  workerIds: string[];
  conversationIds: string[];
}

export function operations(doc: Schema): Operation[] {
  const ops: Operation[] = [];
  for (const [path, byMethod] of Object.entries<Schema>(doc.paths ?? {}))
    for (const [method, op] of Object.entries<Schema>(byMethod)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      ops.push({
        method: method.toUpperCase(),
        path,
        params: (op.parameters ?? []).map((p: Schema) => ({
          in: p.in,
          name: p.name,
          schema: p.schema ?? {},
          required: p.required,
        })),
        body: op.requestBody?.content?.['application/json']?.schema ?? null,
      });
    }
  return ops;
}

/** Percent-encoding that also takes lone surrogates (as the invalid UTF-8 bytes ED A0 80). */
export function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return s
      .split(/([\ud800-\udfff])/)
      .map((part) => (/^[\ud800-\udfff]$/.test(part) ? '%ED%A0%80' : encodeURIComponent(part)))
      .join('');
  }
}

/** A small deterministic PRNG (mulberry32). */
export class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s |= 0;
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = Math.imul(this.s ^ (this.s >>> 15), 1 | this.s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const EXAMPLES_BY_NAME: Record<string, string[]> = {
  problem_id: [
    'k8s_target_port-misconfig-detection-1',
    'fuzz-problem',
    'sandbox-scale_pod_zero_social_net-detection-1',
  ],
  backend_type: ['command', 'sandbox', 'fuzz'],
  worker_id: ['worker-901-kind', 'worker-902-kind'],
  id: ['worker-901-kind'],
  level: ['info', 'error', 'debug,warning'],
  role: ['user', 'assistant', 'system'],
  status: ['pending', 'running', 'completed'],
  model: ['scripted:echo', 'gpt-4o'],
  callback_url: ['http://127.0.0.1:9/cb'],
};

const PATTERN_EXAMPLES: [RegExp, string][] = [
  [/A-Za-z0-9\]\[A-Za-z0-9_.:\/-\]/, 'fuzz-problem'],
  [/A-Za-z0-9\]\[A-Za-z0-9_.-\]/, 'fuzz'],
  [/https\?/, 'http://127.0.0.1:9/cb'],
];

/** Malformations no route may accept (NUL bytes, unknown fields, long strings can be legal). */
const STRICT_KINDS = ['bad-json', 'wrong-content-type', 'not-an-object', 'oversized', 'deep-nesting'];
/** A route without a body ignores a well-formed one, whatever it holds. */
const STRICT_KINDS_NO_BODY = ['bad-json', 'wrong-content-type', 'oversized'];

export class Generator {
  constructor(
    readonly rng: Rng,
    readonly pools: Pools,
  ) {}

  value(schema: Schema, name = '', depth = 0): unknown {
    const r = this.rng;
    if (!schema || typeof schema !== 'object') return null;
    if (schema.anyOf || schema.oneOf) {
      const options = (schema.anyOf ?? schema.oneOf) as Schema[];
      const nonNull = options.filter((o) => o.type !== 'null');
      return this.value(r.chance(0.85) && nonNull.length ? r.pick(nonNull) : r.pick(options), name, depth);
    }
    if (schema.const !== undefined) return schema.const;
    if (schema.enum) return r.pick(schema.enum as unknown[]);
    const type = Array.isArray(schema.type) ? r.pick(schema.type as string[]) : schema.type;
    switch (type) {
      case 'null':
        return null;
      case 'boolean':
        return r.chance(0.5);
      case 'integer':
      case 'number': {
        const lo = schema.minimum ?? 0;
        const hi = Math.min(schema.maximum ?? 1000, lo + 1000);
        const v = r.int(lo, hi);
        return type === 'number' && r.chance(0.3) ? v + 0.5 : v;
      }
      case 'string':
        return this.string(schema, name);
      case 'array': {
        const n = r.int(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3));
        return Array.from({ length: n }, () => this.value(schema.items ?? {}, name, depth + 1));
      }
      case 'object': {
        const out: Record<string, unknown> = {};
        const props = Object.entries<Schema>(schema.properties ?? {});
        const required = new Set<string>(schema.required ?? []);
        for (const [k, s] of props)
          if (required.has(k) || r.chance(0.5)) out[k] = this.value(s, k, depth + 1);
        if (schema.additionalProperties && typeof schema.additionalProperties === 'object' && r.chance(0.5))
          out[`k${r.int(0, 9)}`] = this.value(schema.additionalProperties, '', depth + 1);
        return out;
      }
      default:
        // Any JSON (e.g. a result): something small.
        return r.pick([{ ok: true, n: r.int(0, 9) }, 'text', 42, null, [1, 2]]);
    }
  }

  private string(schema: Schema, name: string): string {
    const r = this.rng;
    if (schema.format === 'uuid') {
      const pool = name === 'task_id' || name === 'id' ? this.pools.taskIds : this.pools.conversationIds;
      return pool.length && r.chance(0.6) ? r.pick(pool) : randomUUID();
    }
    if (schema.format === 'date-time') return new Date(Date.now() - r.int(0, 86400) * 1000).toISOString();
    if (name === 'worker_id' && this.pools.workerIds.length && r.chance(0.6))
      return r.pick(this.pools.workerIds);
    const examples = EXAMPLES_BY_NAME[name];
    if (examples && r.chance(0.8)) return r.pick(examples);
    if (schema.pattern)
      for (const [re, example] of PATTERN_EXAMPLES) if (re.test(schema.pattern)) return example;
    const len = r.int(schema.minLength ?? 1, Math.min(schema.maxLength ?? 24, 24));
    return Array.from({ length: len }, () => r.pick('abcdefghijklmnopqrstuvwxyz0123456789-_'.split(''))).join(
      '',
    );
  }

  /** Path with its parameters filled (valid-looking unless bad). */
  path(op: Operation, bad: boolean): string {
    const r = this.rng;
    const names = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    const spoiled = bad && names.length ? r.pick(names) : null;
    return op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const p = op.params.find((x) => x.in === 'path' && x.name === name);
      if (name === spoiled || (bad && r.chance(0.3))) return enc(this.badScalar());
      if (op.path.startsWith('/api/v1/workers/{id}') && name === 'id')
        return enc(
          this.pools.workerIds.length && r.chance(0.7) ? r.pick(this.pools.workerIds) : 'worker-903-kind',
        );
      return enc(String(this.value(p?.schema ?? { type: 'string' }, name)));
    });
  }

  query(op: Operation, bad: boolean): string {
    const r = this.rng;
    const q = new URLSearchParams();
    const declared = op.params.filter((x) => x.in === 'query');
    const spoiled = bad && declared.length ? r.pick(declared).name : null;
    for (const p of declared) {
      if (!bad && !r.chance(0.5)) continue;
      if (p.name === spoiled || (bad && r.chance(0.3))) {
        q.append(p.name, this.badScalar());
        continue;
      }
      let v = this.value(p.schema, p.name);
      // A valid long-poll must not hold the suite: at most a second.
      if (p.name === 'wait') v = r.int(0, 1);
      if (Array.isArray(v)) for (const x of v) q.append(p.name, String(x));
      else q.append(p.name, String(v));
    }
    if (bad && r.chance(0.3)) q.append(`unknown_${r.int(0, 9)}`, this.badScalar());
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  badScalar(): string {
    const r = this.rng;
    return r.pick([
      '',
      '-1',
      '1e309',
      'NaN',
      'null',
      'true',
      '[]',
      '{}',
      '0x10',
      '99999999999999999999',
      'a\u0000b',
      '\ud800',
      '../../etc/passwd',
      "' OR 1=1 --",
      'x'.repeat(r.int(300, 5000)),
      '%zz',
      '😀'.repeat(50),
      'not-a-uuid',
      '00000000-0000-0000-0000-00000000000g',
    ]);
  }

  /** A body for op; when bad, malformed in one of many ways. */
  body(
    op: Operation,
    bad: boolean,
    strict = false,
  ): { body?: string | Buffer; headers: Record<string, string>; kind: string } {
    const r = this.rng;
    const json = { 'content-type': 'application/json' };
    const valid = op.body ? this.value(op.body) : undefined;
    if (!bad)
      return valid === undefined
        ? { headers: {}, kind: 'valid' }
        : { body: JSON.stringify(valid), headers: json, kind: 'valid' };
    const base = (valid && typeof valid === 'object' ? valid : {}) as Record<string, unknown>;
    const kind = r.pick(
      strict
        ? op.body
          ? STRICT_KINDS
          : STRICT_KINDS_NO_BODY
        : [
            'wrong-type',
            'wrong-type',
            'huge-string',
            'deep-nesting',
            'nul-bytes',
            'lone-surrogate',
            'bad-json',
            'bad-json',
            'wrong-content-type',
            'unknown-field',
            'not-an-object',
            'oversized',
            'empty-with-json-type',
          ],
    );
    switch (kind) {
      case 'wrong-type': {
        const keys = Object.keys(base);
        const k = keys.length
          ? r.pick(keys)
          : r.pick(['problem_id', 'attempt', 'worker_id', 'logs', 'tasks', 'messages']);
        const cur = base[k];
        base[k] =
          typeof cur === 'string'
            ? r.pick([123, [], {}, true])
            : typeof cur === 'number'
              ? r.pick(['12', -1e12, 1.5, [], 'NaN'])
              : Array.isArray(cur)
                ? r.pick([{}, 'x', 1])
                : r.pick(['x', 7, [null], false]);
        return { body: JSON.stringify(base), headers: json, kind };
      }
      case 'huge-string': {
        const k = Object.keys(base)[0] ?? 'problem_id';
        base[k] = 'x'.repeat(r.int(100_000, 400_000));
        return { body: JSON.stringify(base), headers: json, kind };
      }
      case 'deep-nesting': {
        let v: unknown = 1;
        for (let i = 0; i < r.int(65, 3000); i++) v = r.chance(0.5) ? [v] : { a: v };
        const k = Object.keys(base)[0] ?? 'metadata';
        base[k] = v;
        return { body: JSON.stringify(r.chance(0.3) ? v : base), headers: json, kind };
      }
      case 'nul-bytes':
      case 'lone-surrogate': {
        const bad = kind === 'nul-bytes' ? 'a\u0000b\u0000' : 'x\ud800y\udfff';
        const k = Object.keys(base)[0] ?? 'problem_id';
        base[k] = bad;
        base[`${bad}key`] = bad;
        return { body: JSON.stringify(base), headers: json, kind };
      }
      case 'bad-json': {
        const text = JSON.stringify(base);
        const b = r.pick([
          text.slice(0, Math.max(1, text.length - 3)),
          `${text}}`,
          "{'a': 1}",
          '{"a": 1,}',
          '{"a": NaN}',
          '\u0000',
          '{"a": "\\uZZZZ"}',
          '[1, 2',
        ]);
        return { body: b, headers: json, kind };
      }
      case 'wrong-content-type':
        return {
          body: r.chance(0.5) ? JSON.stringify(base) : 'a=1&b=2',
          headers: {
            'content-type': r.pick([
              'text/plain',
              'application/x-www-form-urlencoded',
              'multipart/form-data; boundary=x',
              'application/xml',
              'application/json-patch+json',
              'image/png',
            ]),
          },
          kind,
        };
      case 'unknown-field':
        base[`unknown_${r.int(0, 99)}`] = { nested: true };
        return { body: JSON.stringify(base), headers: json, kind };
      case 'not-an-object':
        return { body: JSON.stringify(r.pick([null, 1, 'str', [], [base], true])), headers: json, kind };
      case 'oversized':
        return { body: Buffer.alloc(r.int(1_100_000, 1_500_000), 0x61), headers: json, kind };
      default:
        return { body: '', headers: json, kind };
    }
  }

  /**
   * A fuzzed request: a real operation, sometimes with the wrong method or an unknown path.
   * strict: malformed only in ways that must be refused (for the "refused changes nothing" check).
   */
  request(ops: Operation[], malformed: boolean, strict = false): FuzzRequest {
    const r = this.rng;
    const op = r.pick(ops);
    if (malformed && !strict && r.chance(0.08)) {
      // A method the route does not have, or a path that does not exist.
      const method = r.pick(['PUT', 'PATCH', 'DELETE', 'POST', 'GET']);
      const path = r.chance(0.5) ? `${this.path(op, false)}/${enc(this.badScalar())}` : this.path(op, false);
      if (!ops.some((o) => o.method === method && o.path === op.path))
        return { method, path, headers: {}, kind: 'wrong-method-or-path', malformed: true };
    }
    // Malformed in one place the operation has: its body, its query or its path.
    const places: string[] = [];
    if (op.body || op.method !== 'GET') places.push('body', 'body', 'body');
    if (!strict && op.params.some((p) => p.in === 'query')) places.push('query');
    if (op.params.some((p) => p.in === 'path' && (!strict || p.schema?.format === 'uuid')))
      places.push('path');
    const where = malformed && places.length ? r.pick(places) : 'none';
    const path = this.path(op, where === 'path');
    const query = this.query(op, where === 'query');
    const b = this.body(op, where === 'body', strict);
    const kind = where === 'none' ? 'valid' : where === 'body' ? b.kind : `bad-${where}`;
    return {
      method: op.method,
      path: `${path}${query}`,
      headers: b.headers,
      body: b.body,
      kind,
      malformed: where !== 'none',
    };
  }
}
