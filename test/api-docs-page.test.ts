/**
 * The docs page as a newcomer meets it: shared schemas named once in `components.schemas`
 * (and the document no longer a quarter of a megabyte of repeats), a real description on
 * every response, the gateway documented with its request and token, the page's title, and
 * `/` sending a browser to the docs while API clients keep their JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { prefersHtml } from '../src/api/accept.ts';
import { DOCS_TITLE } from '../src/api/docs.ts';
import { NAMED_SCHEMAS } from '../src/api/schemas/named.ts';
import { type Body, createTestApp, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

function operations(doc: Body): { name: string; op: Body }[] {
  return Object.entries<Body>(doc.paths).flatMap(([path, item]) =>
    Object.entries<Body>(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })),
  );
}

/** Every `$ref` value in a JSON tree. */
function refsIn(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) refsIn(item, out);
  else if (node !== null && typeof node === 'object')
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push(value);
      else refsIn(value, out);
    }
  return out;
}

/** The paths with every `$ref` replaced by what it names: the document as it was before naming. */
function inlined(doc: Body, node: unknown): unknown {
  if (Array.isArray(node)) return node.map((item) => inlined(doc, item));
  if (node === null || typeof node !== 'object') return node;
  const ref = (node as Body).$ref;
  if (typeof ref === 'string') {
    const [, , kind, name] = ref.split('/');
    return inlined(doc, doc.components[kind!][name!]);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inlined(doc, v)]));
}

/** A response object, read through its `$ref` to components.responses when it has one. */
function response(doc: Body, r: Body): Body {
  return typeof r.$ref === 'string' ? doc.components.responses[r.$ref.split('/').pop()!] : r;
}

const mode = dbModes()[0]!;

describe('the docs page', () => {
  let t: TestApp;
  let text: string;
  let doc: Body;

  before(async () => {
    t = await createTestApp(mode, { listen: true });
    const res = await fetch(`${t.url}/openapi.json`);
    text = await res.text();
    doc = JSON.parse(text) as Body;
  });
  after(async () => t?.close());

  it('names the shared schemas in components.schemas, and every $ref resolves', () => {
    const names = Object.keys(doc.components.schemas);
    for (const name of [
      'Error',
      'Task',
      'TaskCreate',
      'TaskLog',
      'Worker',
      'Experiment',
      'Conversation',
      'Call',
    ])
      assert.ok(names.includes(name), `components.schemas.${name}`);
    assert.deepEqual(names.sort(), Object.keys(NAMED_SCHEMAS).sort());
    const refs = refsIn(doc).filter((r) => r.startsWith('#/components/schemas/'));
    const missing = refs.filter((r) => !names.includes(r.replace('#/components/schemas/', '')));
    assert.deepEqual(missing, []);
    // Each one is referenced, so naming it paid off.
    for (const name of names) assert.ok(refs.includes(`#/components/schemas/${name}`), `${name} is used`);
  });

  it('holds each shared schema once: the document is less than half its inlined size', () => {
    // The task's field list appears once (in components.schemas.Task), not once per route.
    const taskFields = text.split('"required":["id","problem_id","status","priority"').length - 1;
    assert.equal(taskFields, 1);
    const errorFields = text.split('"required":["error","code","details","detail"]').length - 1;
    assert.equal(errorFields, 1);
    const inlinedSize = JSON.stringify({ ...doc, paths: inlined(doc, doc.paths), components: {} }).length;
    assert.ok(text.length < inlinedSize / 2, `${text.length} bytes (inlined: ${inlinedSize})`);
  });

  it('gives every success response a description of its own', () => {
    const generic: string[] = [];
    for (const { name, op } of operations(doc)) {
      const success = Object.entries<Body>(op.responses).filter(([code]) => /^[23]/.test(code));
      if (success.length === 0) generic.push(`${name}: no success response`);
      for (const [code, response] of success)
        if (!response.description || response.description === 'Default Response')
          generic.push(`${name} ${code}: ${response.description}`);
    }
    assert.deepEqual(generic, []);
  });

  it('describes error responses by status, not with one sentence for all', () => {
    const task = doc.paths['/api/v1/tasks/{id}'].get.responses;
    const described = (status: string) => response(doc, task[status]).description;
    assert.match(described('404'), /not found/i);
    assert.match(described('422'), /validation/i);
    assert.notEqual(described('404'), described('503'));
  });

  it('shares each error response once in components.responses', () => {
    const shared = doc.components.responses;
    assert.equal(shared.Error404.content['application/json'].schema.$ref, '#/components/schemas/Error');
    const refs = refsIn(doc.paths).filter((r) => r.startsWith('#/components/responses/'));
    assert.ok(refs.length > 100, `${refs.length} error responses refer to a shared one`);
    for (const ref of refs) assert.ok(shared[ref.split('/').pop()!], `${ref} resolves`);
  });

  it('documents the gateway request body, its header and its bearer token', () => {
    const chat = doc.paths['/llm/v1/chat/completions'].post;
    const media = chat.requestBody.content['application/json'];
    assert.deepEqual(media.schema.required, ['model', 'messages']);
    assert.equal(media.schema.additionalProperties, true, 'any OpenAI field passes through');
    assert.deepEqual(chat.security, [{ taskToken: [] }]);
    assert.ok(chat.parameters.some((p: Body) => p.in === 'header' && p.name === 'x-conversation-id'));
    assert.ok(chat.responses['200'].content['text/event-stream'], 'the streamed form is documented');
    const refused = response(doc, chat.responses['401']);
    assert.equal(refused.content['application/json'].schema.$ref, '#/components/schemas/OpenAiError');
    const models = doc.paths['/llm/v1/models'].get;
    assert.ok(models.responses['200'].content['application/json'].schema.properties.data);
  });

  it('titles the page for the project', async () => {
    const res = await fetch(`${t.url}/docs/`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, new RegExp(`<title>${DOCS_TITLE}</title>`));
    assert.doesNotMatch(html, /<title>Swagger UI<\/title>/);
  });

  it('sends a browser from / to the dashboard; API clients keep the JSON with its docs link', async () => {
    const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    const page = await fetch(`${t.url}/`, { headers: { accept: browser }, redirect: 'manual' });
    assert.equal(page.status, 302);
    assert.equal(page.headers.get('location'), '/ui/');
    for (const accept of ['*/*', 'application/json', 'application/json, text/html']) {
      const res = await fetch(`${t.url}/`, { headers: { accept }, redirect: 'manual' });
      assert.equal(res.status, 200, accept);
      const body = (await res.json()) as Body;
      assert.equal(body.docs, '/docs');
      assert.equal(body.links.openapi, '/openapi.json');
    }
  });
});

describe('/ without the docs page', () => {
  it('still sends a browser to the dashboard when ENABLE_DOCS is off; API clients get /openapi.json', async () => {
    const t = await createTestApp(mode, { env: { ENABLE_DOCS: 'false' } });
    try {
      const page = await t.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } });
      assert.equal(page.statusCode, 302);
      assert.equal(page.headers.location, '/ui/');
      const res = await t.inject({ method: 'GET', url: '/', headers: { accept: 'application/json' } });
      assert.equal(res.statusCode, 200);
      assert.equal(JSON.parse(res.body).docs, '/openapi.json');
    } finally {
      await t.close();
    }
  });
});

describe('prefersHtml', () => {
  it('is true only when text/html is named and ranked above JSON', () => {
    assert.equal(prefersHtml('text/html,application/xhtml+xml,*/*;q=0.8'), true);
    assert.equal(prefersHtml('application/json;q=0.5, text/html'), true);
    assert.equal(prefersHtml(undefined), false);
    assert.equal(prefersHtml('*/*'), false);
    assert.equal(prefersHtml('text/*'), false);
    assert.equal(prefersHtml('application/json, text/html'), false);
    assert.equal(prefersHtml('text/html;q=0'), false);
  });
});
