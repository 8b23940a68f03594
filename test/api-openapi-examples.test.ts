/**
 * The examples the docs page offers are real: every example in the OpenAPI document
 * validates against its own schema (compiled with the project's validator, TypeBox), and the
 * example request bodies, sent as "Try it out" sends them to a listening server, pass the
 * server's own validation — including the gateway's, with a task token from a real claim.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Compile } from 'typebox/compile';
import { type Body, createTestApp, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const COMPONENTS = '#/components/schemas/';

interface Example {
  where: string;
  schema: Body;
  value: unknown;
}

/** The schema with every `$ref` to a component replaced by the component (the names have no cycles). */
function inline(doc: Body, schema: unknown, depth = 0): unknown {
  assert.ok(depth < 32, 'a $ref cycle');
  if (Array.isArray(schema)) return schema.map((s) => inline(doc, s, depth));
  if (schema === null || typeof schema !== 'object') return schema;
  const node = schema as Body;
  if (typeof node.$ref === 'string') {
    assert.ok(node.$ref.startsWith(COMPONENTS), `unexpected $ref ${node.$ref}`);
    const target = doc.components.schemas[node.$ref.slice(COMPONENTS.length)];
    assert.ok(target, `${node.$ref} is not in components.schemas`);
    return inline(doc, target, depth + 1);
  }
  const out: Body = {};
  for (const [key, value] of Object.entries(node))
    out[key] = key === 'examples' || key === 'example' ? value : inline(doc, value, depth);
  return out;
}

/**
 * Every example the document holds, with the schema it illustrates: JSON Schema `examples`
 * on any schema, and `example` / `examples` on media types and parameters.
 */
function examplesOf(doc: Body): Example[] {
  const found: Example[] = [];
  const walk = (node: unknown, where: string) => {
    if (node === null || typeof node !== 'object') return;
    const obj = node as Body;
    const isSchemaHolder = obj.schema && typeof obj.schema === 'object';
    if (isSchemaHolder) {
      if ('example' in obj) found.push({ where: `${where}.example`, schema: obj.schema, value: obj.example });
      if (obj.examples && !Array.isArray(obj.examples))
        for (const [name, ex] of Object.entries<Body>(obj.examples))
          found.push({ where: `${where}.examples.${name}`, schema: obj.schema, value: ex.value });
    } else if (Array.isArray(obj.examples))
      obj.examples.forEach((value: unknown, i: number) => {
        found.push({ where: `${where}.examples[${i}]`, schema: obj, value });
      });
    for (const [key, value] of Object.entries(obj))
      if (key !== 'examples' && key !== 'example') walk(value, `${where}/${key}`);
  };
  walk(doc.paths, 'paths');
  walk(doc.components.schemas, 'components.schemas');
  return found;
}

/** The reasons an example fails its schema; empty when it validates. */
function problems(doc: Body, example: Example): string[] {
  const check = Compile(inline(doc, example.schema) as never);
  if (check.Check(example.value)) return [];
  return [...check.Errors(example.value)].map((e) => `${example.where}: ${e.instancePath} ${e.message}`);
}

interface BodyExample {
  method: string;
  path: string;
  value: unknown;
}

function requestBodyExamples(doc: Body): BodyExample[] {
  const out: BodyExample[] = [];
  for (const [path, item] of Object.entries<Body>(doc.paths))
    for (const [method, op] of Object.entries<Body>(item)) {
      if (!METHODS.includes(method)) continue;
      const media = op.requestBody?.content?.['application/json'];
      if (!media) continue;
      if ('example' in media) out.push({ method: method.toUpperCase(), path, value: media.example });
      for (const ex of Object.values<Body>(media.examples ?? {}))
        out.push({ method: method.toUpperCase(), path, value: ex.value });
    }
  return out;
}

const mode = dbModes()[0]!;
const WORKER = 'worker-001-kind';

/** Sends an example body as "Try it out" would, path ids filled in as a reader would fill them. */
async function send(base: string, e: BodyExample, token?: string) {
  const id = e.path.startsWith('/api/v1/workers') ? WORKER : crypto.randomUUID();
  const url = base + e.path.replace('{id}', id).replace('{task_id}', crypto.randomUUID());
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: e.method, headers, body: JSON.stringify(e.value) });
  return { status: res.status, body: await res.text() };
}

describe('OpenAPI examples', () => {
  let t: TestApp;
  let doc: Body;

  before(async () => {
    t = await createTestApp(mode, { listen: true });
    doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as Body;
  });
  after(async () => t?.close());

  it('every example in the document validates against its own schema', () => {
    const examples = examplesOf(doc);
    assert.ok(examples.length >= 15, `${examples.length} examples found`);
    assert.deepEqual(
      examples.flatMap((e) => problems(doc, e)),
      [],
    );
  });

  it('the check catches an example that does not fit (a priority of "high")', () => {
    const media = doc.paths['/api/v1/tasks'].post.requestBody.content['application/json'];
    const broken = { ...media.examples.example1.value, priority: 'high' };
    const found = problems(doc, { where: 'broken', schema: media.schema, value: broken });
    assert.equal(found.length > 0, true, 'the broken example was accepted');
  });

  it('the main request bodies each offer an example', () => {
    const withExample = new Set(requestBodyExamples(doc).map((e) => `${e.method} ${e.path}`));
    for (const op of [
      'POST /api/v1/tasks',
      'POST /api/v1/tasks/batch',
      'POST /api/v1/experiments',
      'POST /api/v1/tasks/{id}/rewards',
      'POST /api/v1/workers/register',
      'POST /api/v1/workers/{id}/heartbeat',
      'POST /api/v1/workers/{id}/tasks/{task_id}/logs',
      'POST /api/v1/workers/{id}/tasks/{task_id}/complete',
      'POST /api/v1/workers/{id}/tasks/{task_id}/fail',
      'POST /llm/v1/chat/completions',
    ])
      assert.ok(withExample.has(op), `${op} has no example body`);
  });

  it('every example body passes the running server’s validation; the gateway example gets a completion', async () => {
    const all = requestBodyExamples(doc);
    const register = all.find((e) => e.path === '/api/v1/workers/register');
    assert.ok(register);
    assert.equal(
      (await send(t.url, register)).status,
      201,
      'the register example registers the example worker',
    );
    const refused: string[] = [];
    let token: string | undefined;
    for (const e of all.filter((x) => !x.path.startsWith('/llm/'))) {
      const { status, body } = await send(t.url, e);
      if ([400, 413, 415, 422].includes(status)) refused.push(`${e.method} ${e.path}: ${status} ${body}`);
      // The example worker claims one of the example tasks: its token opens the gateway.
      if (e.path.endsWith('/claim') && status === 200)
        token ??= (JSON.parse(body) as Body | null)?.llm_api_key;
    }
    assert.deepEqual(refused, []);
    assert.ok(token, 'the example claim handed out a task token');

    const chat = all.find((e) => e.path === '/llm/v1/chat/completions');
    assert.ok(chat);
    const { status, body } = await send(t.url, chat, token);
    assert.equal(status, 200, body);
    const reply = JSON.parse(body) as Body;
    assert.equal(reply.object, 'chat.completion');
    assert.ok(reply.choices.length > 0);
  });
});
