/** Small parsers for environment values: each knows its default, its doc line and the form it expects. */
import { isIPv4, isIPv6 } from 'node:net';
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

/** The API roles a bearer token can carry (see src/api/auth.ts for what each may call). */
export const ROLES = ['admin', 'client', 'worker'] as const;
export type Role = (typeof ROLES)[number];
export interface RoleToken {
  role: Role;
  token: string;
}
/** Shorter tokens are guessable; 16 characters is the floor, 32+ random ones are advised. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Why a role/token pair is refused, or undefined when it is fine. The words never include
 * the token (nor the role, which may be a mistyped token when the separator is missing).
 */
export function roleTokenProblem(role: string, token: string): string | undefined {
  if (!(ROLES as readonly string[]).includes(role)) return `unknown role (expected ${ROLES.join(', ')})`;
  if (token === '') return 'empty token';
  if (/\s/.test(token)) return 'the token contains whitespace';
  if (token.length < MIN_TOKEN_LENGTH) return `token shorter than ${MIN_TOKEN_LENGTH} characters`;
  return undefined;
}

/** `admin:…,client:…,worker:…`: tokens by role, several per role allowed. */
export function roleTokens(doc: string): Spec<RoleToken[]> {
  const form = `comma-separated role:token pairs (roles ${ROLES.join(', ')}; tokens of at least ${MIN_TOKEN_LENGTH} characters)`;
  return {
    default: [],
    doc,
    parse(raw) {
      const out: RoleToken[] = [];
      const entries = raw.split(',').map((e) => e.trim());
      for (const [i, entry] of entries.entries()) {
        if (entry === '') continue; // a trailing comma
        const colon = entry.indexOf(':');
        if (colon < 0) return fail(`${form}; entry ${i + 1} has no "role:"`);
        const role = entry.slice(0, colon).trim();
        const token = entry.slice(colon + 1).trim();
        const problem = roleTokenProblem(role, token);
        if (problem) return fail(`${form}; entry ${i + 1}: ${problem}`);
        out.push({ role: role as Role, token });
      }
      return { ok: true, value: out };
    },
  };
}

/** Where callbacks may go although the address policy forbids the range (config knows no policy). */
export interface HostAllowList {
  /** Lower-case hostnames, matched exactly against the callback URL's host. */
  hostnames: string[];
  /** Single addresses are ranges too: /32 or /128. */
  ranges: { address: string; prefix: number; family: 'ipv4' | 'ipv6' }[];
}

const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/;

function parseHostItem(item: string): HostAllowList | null {
  const [rawAddress, prefixText, extra] = item.split('/');
  const address = rawAddress!.replace(/^\[(.*)\]$/, '$1');
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (extra !== undefined) return null;
  if (family) {
    const bits = family === 'ipv4' ? 32 : 128;
    const prefix = prefixText === undefined ? bits : Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText ?? '0') || prefix > bits) return null;
    return { hostnames: [], ranges: [{ address, prefix, family }] };
  }
  const host = item.toLowerCase().replace(/\.$/, '');
  return prefixText === undefined && HOSTNAME.test(host) ? { hostnames: [host], ranges: [] } : null;
}

/**
 * `hooks.internal,127.0.0.1,10.0.0.0/8,fd00::/8`: hostnames (exact, case-insensitive), IP
 * addresses and CIDR ranges, v4 and v6. A URL, a port or a bad prefix is refused at start,
 * since a typo here would otherwise surface only as refused deliveries.
 */
export function hostAllowList(def: string, doc: string): Spec<HostAllowList> {
  const expected =
    'a comma list of hostnames, IP addresses or CIDR ranges (e.g. hooks.internal,127.0.0.1,10.0.0.0/8,fd00::/8)';
  const parse = (raw: string): Parsed<HostAllowList> => {
    const out: HostAllowList = { hostnames: [], ranges: [] };
    for (const item of raw.split(',').map((p) => p.trim())) {
      if (item === '') continue;
      const one = parseHostItem(item);
      if (!one) return fail(`${expected}; not one: ${JSON.stringify(item)}`);
      out.hostnames.push(...one.hostnames);
      out.ranges.push(...one.ranges);
    }
    return { ok: true, value: out };
  };
  const initial = parse(def);
  if (!initial.ok) throw new Error(`bad default for a host allow list: ${def}`);
  return { default: initial.value, doc, parse };
}

/**
 * A `postgres://` or `postgresql://` URL. Anything else (`mysql://…`, a bare host name) would
 * only fail at the first connection, with a DNS or protocol error that does not name the
 * variable; refused here, at start, instead.
 */
export function postgresUrl(doc: string): Spec<string> {
  const expected = 'a postgres:// or postgresql:// URL (e.g. postgres://user:password@host:5432/db)';
  return {
    default: '',
    doc,
    parse(raw) {
      try {
        const u = new URL(raw);
        return u.protocol === 'postgres:' || u.protocol === 'postgresql:'
          ? { ok: true, value: raw }
          : fail(expected);
      } catch {
        return fail(expected);
      }
    },
  };
}

/**
 * A command line: a JSON argv array when it starts with `[`, else a shell line. A value that
 * starts with `[` but is not an array of strings is refused at start, since running it as a
 * shell line (or failing every task with a parse error) hides the typo until tasks arrive.
 */
export function commandLine(doc: string): Spec<string> {
  const expected = 'a JSON array of strings when the value starts with "[" (else a shell line)';
  return {
    default: '',
    doc,
    parse(raw) {
      if (!raw.startsWith('[')) return { ok: true, value: raw };
      let argv: unknown;
      try {
        argv = JSON.parse(raw);
      } catch (err) {
        const at = /position (\d+)/.exec((err as Error).message)?.[1];
        return fail(`${expected}; not valid JSON${at ? ` (syntax error at position ${at})` : ''}`);
      }
      const ok =
        Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === 'string' && a !== '');
      return ok ? { ok: true, value: raw } : fail(`${expected}; a non-empty array of non-empty strings`);
    },
  };
}
