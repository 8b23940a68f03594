/**
 * The OpenAPI document declares the authentication the server enforces: a `bearerAuth` and a
 * `taskToken` scheme, and on every operation a `security` that matches what a real listening
 * server with API_TOKENS answers — 401 without a token exactly where a token is declared,
 * 403 for a role missing from `x-roles`, and API tokens never opening a `taskToken` operation.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Body, createTestApp, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const TOKENS = {
  admin: 'admin-token-aaaaaaaaaaaa',
  client: 'client-token-bbbbbbbbbbb',
  worker: 'worker-token-ccccccccccc',
} as const;
type Role = keyof typeof TOKENS;
const ROLES = Object.keys(TOKENS) as Role[];
const API_TOKENS = Object.entries(TOKENS)
  .map(([role, token]) => `${role}:${token}`)
  .join(',');
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

interface Operation {
  method: string;
  path: string;
  security: Record<string, string[]>[] | undefined;
  roles: string[] | undefined;
}

function operations(doc: Body): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<Body>(doc.paths))
    for (const [method, op] of Object.entries<Body>(item))
      if (METHODS.includes(method))
        ops.push({ method: method.toUpperCase(), path, security: op.security, roles: op['x-roles'] });
  return ops;
}

/** The one scheme an operation declares ('public' for `security: []`). */
function schemeOf(op: Operation): 'public' | 'bearerAuth' | 'taskToken' {
  assert.ok(Array.isArray(op.security), `${op.method} ${op.path} declares no security`);
  if (op.security.length === 0) return 'public';
  assert.equal(op.security.length, 1, `${op.method} ${op.path}: one requirement`);
  const names = Object.keys(op.security[0]!);
  assert.equal(names.length, 1, `${op.method} ${op.path}: one scheme`);
  assert.ok(names[0] === 'bearerAuth' || names[0] === 'taskToken', `${op.method} ${op.path}: ${names[0]}`);
  return names[0];
}

/** A request to the operation with path parameters filled in (auth is decided before they are read). */
async function call(base: string, op: Operation, token?: string): Promise<Response> {
  const url = base + op.path.replace(/\{[^}]+\}/g, () => randomUUID());
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const init: RequestInit = { method: op.method, headers, signal: AbortSignal.timeout(10_000) };
  if (op.method !== 'GET' && op.method !== 'DELETE') {
    headers['content-type'] = 'application/json';
    init.body = '{}';
  }
  const res = await fetch(url, init);
  // Only the status matters; a streamed body (SSE, export) is not read to its end.
  await res.body?.cancel();
  return res;
}

const mode = dbModes()[0]!;

describe('OpenAPI security declarations', () => {
  let t: TestApp;
  let open: TestApp;
  let doc: Body;
  let ops: Operation[];

  before(async () => {
    t = await createTestApp(mode, { env: { API_TOKENS }, listen: true });
    open = await createTestApp(mode, { listen: true });
    const res = await fetch(`${t.url}/openapi.json`);
    assert.equal(res.status, 200, 'the document itself is public');
    doc = (await res.json()) as Body;
    ops = operations(doc);
  });
  after(async () => {
    await t?.close();
    await open?.close();
  });

  it('defines the bearerAuth and taskToken http bearer schemes', () => {
    const schemes = doc.components.securitySchemes;
    assert.equal(schemes.bearerAuth.type, 'http');
    assert.equal(schemes.bearerAuth.scheme, 'bearer');
    assert.equal(schemes.taskToken.type, 'http');
    assert.equal(schemes.taskToken.scheme, 'bearer');
  });

  it('marks the discovery routes public and the gateway as taskToken', () => {
    const scheme = (method: string, path: string) => {
      const op = ops.find((o) => o.method === method && o.path === path);
      assert.ok(op, `${method} ${path} is documented`);
      return schemeOf(op);
    };
    for (const path of ['/', '/health', '/openapi.json']) assert.equal(scheme('GET', path), 'public');
    assert.equal(scheme('POST', '/llm/v1/chat/completions'), 'taskToken');
    assert.equal(scheme('GET', '/llm/v1/models'), 'taskToken');
    assert.equal(scheme('POST', '/api/v1/tasks'), 'bearerAuth');
  });

  it('every operation answers 401 without a token exactly when it declares a token', async () => {
    assert.ok(ops.length > 20, `${ops.length} operations`);
    const wrong: string[] = [];
    for (const op of ops) {
      const scheme = schemeOf(op);
      const res = await call(t.url, op);
      if ((res.status === 401) !== (scheme !== 'public'))
        wrong.push(`${op.method} ${op.path}: declared ${scheme}, answered ${res.status}`);
      else if (scheme === 'bearerAuth' && !/^Bearer/.test(res.headers.get('www-authenticate') ?? ''))
        wrong.push(`${op.method} ${op.path}: 401 without a Bearer challenge`);
    }
    assert.deepEqual(wrong, []);
  });

  it('x-roles lists exactly the roles the server lets in; API tokens never open taskToken operations', async () => {
    const wrong: string[] = [];
    for (const op of ops) {
      const scheme = schemeOf(op);
      if (scheme === 'public') continue;
      if (scheme === 'taskToken') {
        assert.equal(op.roles, undefined, `${op.method} ${op.path}: no API roles on the gateway`);
        const res = await call(t.url, op, TOKENS.admin);
        if (res.status !== 401) wrong.push(`${op.method} ${op.path}: an admin token got ${res.status}`);
        continue;
      }
      const roles = op.roles ?? [];
      assert.ok(roles.includes('admin'), `${op.method} ${op.path}: x-roles ${op.roles}`);
      for (const role of ROLES) {
        const status = (await call(t.url, op, TOKENS[role])).status;
        const declared = roles.includes(role);
        if (declared ? status === 401 || status === 403 : status !== 403)
          wrong.push(
            `${op.method} ${op.path}: ${role} ${declared ? 'declared' : 'not declared'}, got ${status}`,
          );
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('declares the same security without tokens configured, where only taskToken operations need one', async () => {
    const openDoc = (await (await fetch(`${open.url}/openapi.json`)).json()) as Body;
    const plan = (list: Operation[]) =>
      list.map((o) => `${o.method} ${o.path} ${JSON.stringify(o.security)}`);
    assert.deepEqual(plan(operations(openDoc)), plan(ops));
    const wrong: string[] = [];
    for (const op of ops) {
      const status = (await call(open.url, op)).status;
      if ((status === 401) !== (schemeOf(op) === 'taskToken'))
        wrong.push(`${op.method} ${op.path}: ${schemeOf(op)}, answered ${status} with no tokens configured`);
    }
    assert.deepEqual(wrong, []);
  });
});
