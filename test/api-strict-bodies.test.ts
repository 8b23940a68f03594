/**
 * Strict edges of request bodies: a JSON null or any non-object where an object is due, an
 * unknown field on the worker protocol, and a body nested too deep are all refused before any
 * route acts, and a refused report leaves the task as it was. The predecessor's documented
 * request shapes (shared/seed/predecessor) stay accepted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_JSON_DEPTH } from '../src/api/body.ts';
import {
  type Body,
  claimToken,
  createTestApp,
  json,
  registerWorker,
  submitTask,
  type TestApp,
} from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const W = 'worker-001-kind';
const UUID = '00000000-0000-4000-8000-000000000000';

/** Every route that takes a body, with a path that reaches its validation. */
const BODY_ROUTES = [
  '/api/v1/tasks',
  '/api/v1/tasks/batch',
  '/api/v1/workers/register',
  '/api/v1/workers/heartbeat',
  `/api/v1/workers/${W}/heartbeat`,
  `/api/v1/workers/${W}/claim`,
  `/api/v1/workers/${W}/tasks/${UUID}/logs`,
  `/api/v1/workers/${W}/tasks/${UUID}/complete`,
  `/api/v1/workers/${W}/tasks/${UUID}/fail`,
  `/api/v1/workers/${W}/tasks/${UUID}/release`,
];

/** `{"a":{"a":…{}}}` nested `depth` levels (the outer object is level 1). */
const nested = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;

for (const mode of dbModes()) {
  describe(`strict request bodies (${mode})`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(mode);
      await registerWorker(t, W);
    });
    after(() => t.close());

    const raw = (url: string, payload: string) =>
      t.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } });
    const post = (url: string, payload: unknown) => raw(url, JSON.stringify(payload));

    const claimOne = async () => {
      const task = await submitTask(t);
      const claimed = await post(`/api/v1/workers/${W}/claim`, {});
      assert.equal(json<Body>(claimed).id, task.id, claimed.body);
      return task.id as string;
    };
    const statusOf = async (id: string) =>
      json<Body>(await t.inject({ method: 'GET', url: `/api/v1/tasks/${id}` })).status;

    it('refuses null, arrays, strings, numbers and booleans as a body on every route with one', async () => {
      for (const url of BODY_ROUTES)
        for (const payload of ['null', '[]', '[{}]', '"x"', '7', 'true']) {
          const res = await raw(url, payload);
          assert.ok([400, 422].includes(res.statusCode), `${url} ${payload} → ${res.statusCode} ${res.body}`);
          assert.equal(json<Body>(res).code, 'VALIDATION_ERROR', `${url} ${payload}`);
        }
    });

    it('a null complete, fail or release changes nothing', async () => {
      const id = await claimOne();
      for (const action of ['complete', 'fail', 'release']) {
        const res = await raw(`/api/v1/workers/${W}/tasks/${id}/${action}`, 'null');
        assert.equal(res.statusCode, 422, res.body);
        assert.deepEqual(json<Body>(res).details.errors, [
          { field: '(root)', reason: 'must be a JSON object, not null' },
        ]);
      }
      assert.equal(await statusOf(id), 'running');
      await post(`/api/v1/workers/${W}/tasks/${id}/complete`, {});
    });

    it('names an unknown field on each worker protocol route, and the report does not happen', async () => {
      const id = await claimOne();
      // [url, body, the field the 422 must name]
      const cases: [string, Record<string, unknown>, string][] = [
        ['/api/v1/workers/register', { worker_id: W, backend_typ: 'x' }, 'backend_typ'],
        [`/api/v1/workers/${W}/heartbeat`, { status: 'idle', lease: 1 }, 'lease'],
        [
          '/api/v1/workers/heartbeat',
          { worker_id: W, tasks: [{ task_id: id, attempt: 1, extra: 1 }] },
          'tasks[0].extra',
        ],
        [`/api/v1/workers/${W}/claim`, { max: 5 }, 'max'],
        [
          `/api/v1/workers/${W}/tasks/${id}/logs`,
          { logs: [{ level: 'info', message: 'm', lvl: 1 }] },
          'logs[0].lvl',
        ],
        [`/api/v1/workers/${W}/tasks/${id}/fail`, { attempt: 1, reason: 'x' }, 'reason'],
        [`/api/v1/workers/${W}/tasks/${id}/release`, { attempt: 1, now: true }, 'now'],
      ];
      for (const [url, payload, field] of cases) {
        const res = await post(url, payload);
        assert.equal(res.statusCode, 422, `${url} → ${res.body}`);
        const errors = json<Body>(res).details.errors;
        assert.deepEqual(errors, [{ field, reason: 'is not an accepted field or key' }], url);
      }
      assert.equal(await statusOf(id), 'running');
      const logs = json<Body>(
        await t.inject({ method: 'GET', url: `/api/v1/tasks/${id}/logs?source=worker` }),
      );
      assert.deepEqual(logs.logs, []);
      // complete is the one open body: the predecessor stored the whole body as the result,
      // so an unknown field is part of what is reported (and a misspelt attempt fences nothing).
      const done = await post(`/api/v1/workers/${W}/tasks/${id}/complete`, { atempt: 99, result: {} });
      assert.equal(done.statusCode, 200, done.body);
      assert.deepEqual(json<Body>(done).result, { atempt: 99, result: {} });
    });

    it('keeps accepting the predecessor’s documented request shapes', async () => {
      const ok = async (url: string, payload: unknown) => {
        const res = await post(url, payload);
        // Register answers 201, as the predecessor did.
        const expected = url.endsWith('/register') ? 201 : 200;
        assert.equal(res.statusCode, expected, `${url} ${JSON.stringify(payload)} → ${res.body}`);
        return json<Body>(res);
      };
      // API_DOCUMENTATION.md and the worker client's register; `id` is the other accepted spelling.
      await ok('/api/v1/workers/register', {
        worker_id: W,
        backend_type: 'kind',
        capabilities: { max_parallel_tasks: 1, supported_problems: [], anything: true },
        metadata: { host: 'h', pid: 1, version: '1.0.0', kind_cluster: W },
      });
      await ok('/api/v1/workers/register', { id: W, backend_type: 'kind' });
      await ok(`/api/v1/workers/${W}/heartbeat`, { status: 'idle', current_task_id: null });
      await ok('/api/v1/workers/heartbeat', { worker_id: W, status: 'idle' });
      // The seed's complete posts its whole outcome; its fail posts { error }.
      const a = await claimOne();
      await ok(`/api/v1/workers/${W}/heartbeat`, { status: 'busy', current_task_id: a });
      const outcome = { success: true, result: { steps: 3 }, execution_time: '2025-01-14T10:30:50' };
      assert.deepEqual((await ok(`/api/v1/workers/${W}/tasks/${a}/complete`, outcome)).result, outcome);
      const b = await claimOne();
      await ok(`/api/v1/workers/${W}/tasks/${b}/fail`, { error: 'AIOpsLab import error' });
      const c = await claimOne();
      await ok(`/api/v1/workers/${W}/tasks/${c}/fail`, {
        worker_id: W,
        attempt: 1,
        error_message: 'boom',
        error_details: { trace: 'x' },
        retry: false,
      });
      const d = await claimOne();
      await ok(`/api/v1/workers/${W}/tasks/${d}/logs`, {
        worker_id: W,
        attempt: 1,
        logs: [{ level: 'info', message: 'm', context: { step: 1 }, timestamp: new Date().toISOString() }],
      });
      await ok(`/api/v1/workers/${W}/tasks/${d}/release`, { worker_id: W, attempt: 1 });
      // No body, or an empty one with a JSON content type, is still "no body".
      const e = await raw(`/api/v1/workers/${W}/heartbeat`, '');
      assert.equal(e.statusCode, 200, e.body);
      const f = await t.inject({ method: 'POST', url: `/api/v1/workers/${W}/claim` });
      assert.equal(f.statusCode, 200, f.body);
      await post(`/api/v1/workers/${W}/tasks/${json<Body>(f).id}/complete`, {});
    });

    it(`refuses a body nested deeper than ${MAX_JSON_DEPTH} levels with 422, never a 500`, async () => {
      const deep = (depth: number) => `{"worker_id":"${W}","metadata":${nested(depth - 1)}}`;
      const fits = await raw('/api/v1/workers/register', deep(MAX_JSON_DEPTH));
      assert.equal(fits.statusCode, 201, fits.body);
      for (const depth of [MAX_JSON_DEPTH + 1, 5000, 100_000]) {
        const res = await raw('/api/v1/workers/register', deep(depth));
        assert.equal(res.statusCode, 422, `${depth}: ${res.body.slice(0, 200)}`);
        const body = json<Body>(res);
        assert.equal(body.code, 'VALIDATION_ERROR');
        assert.deepEqual(body.details.errors, [
          { field: '(root)', reason: `nests deeper than ${MAX_JSON_DEPTH} levels` },
        ]);
      }
      // Brackets inside strings are text, not nesting.
      const text = await post('/api/v1/tasks', { problem_id: 'p', metadata: { s: '[{'.repeat(5000) } });
      assert.equal(text.statusCode, 201, text.body);
      // Arrays nest too, and the task route refuses them the same way.
      const arrays = await raw(
        '/api/v1/tasks',
        `{"problem_id":"p","metadata":{"a":${'['.repeat(100)}${']'.repeat(100)}}}`,
      );
      assert.equal(arrays.statusCode, 422, arrays.body);
    });

    it('answers the gateway’s refusals of the same bodies in OpenAI’s error shape', async () => {
      // With a valid token: without one the gateway refuses before it reads any body.
      const token = await claimToken(t, W);
      for (const payload of ['null', nested(MAX_JSON_DEPTH + 1)]) {
        const res = await t.inject({
          method: 'POST',
          url: '/llm/v1/chat/completions',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          payload,
        });
        assert.ok([400, 422].includes(res.statusCode), res.body);
        const body = json<Body>(res);
        assert.equal(body.error.type, 'invalid_request_error', res.body);
        assert.equal(typeof body.error.message, 'string');
      }
      // A body that is not JSON: 415, in the gateway's shape too.
      const text = await t.inject({
        method: 'POST',
        url: '/llm/v1/chat/completions',
        headers: { 'content-type': 'text/plain', authorization: `Bearer ${token}` },
        payload: 'hello',
      });
      assert.equal(text.statusCode, 415, text.body);
      assert.equal(json<Body>(text).error.code, 'unsupported_media_type');
    });
  });
}
