/**
 * The predecessor's HTTP surface (shared/seed/predecessor: its API documentation, response
 * schemas, worker client, test_integrated.py and quick_test.sh), over a real listening server:
 * the requests its clients send get the fields, types and status codes they read, plus ours.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { PoolStatus, WorkerPoolControl } from '../src/worker/pool.ts';
import { type Body, createTestApp, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const W = 'worker-001-kind';

interface Reply {
  status: number;
  type: string;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response JSON.
  body: any;
}

/** One request with exactly these headers (fetch would add its own content type). */
function send(base: string, method: string, path: string, headers: Record<string, string> = {}, body = '') {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      { method, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const type = String(res.headers['content-type'] ?? '');
          resolve({
            status: res.statusCode ?? 0,
            type,
            text,
            body: type.includes('json') && text ? JSON.parse(text) : undefined,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const json = (payload: unknown) => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(payload),
});

/** The in-process pool's control surface; its calls are what the body-less tests look at. */
class RecordingPool implements WorkerPoolControl {
  calls: string[] = [];
  private n = 3;
  private running = true;
  status(): PoolStatus {
    return {
      running: this.running,
      num_workers: this.n,
      backend_type: 'sandbox',
      auto_start: true,
      workers: [],
    };
  }
  async scale(n: number) {
    this.calls.push(`scale:${n}`);
    this.n = n;
    return this.status();
  }
  async start() {
    this.calls.push('start');
    this.running = true;
    return this.status();
  }
  async stop() {
    this.calls.push('stop');
    this.running = false;
    return this.status();
  }
}

for (const mode of dbModes()) {
  describe(`the predecessor's HTTP surface (${mode})`, () => {
    let t: TestApp;
    let pool: RecordingPool;
    beforeEach(async () => {
      pool = new RecordingPool();
      t = await createTestApp(mode, { listen: true, pool });
    });
    afterEach(() => t.close());

    const call = (
      method: string,
      path: string,
      o: { headers?: Record<string, string>; body?: string } = {},
    ) => send(t.url, method, path, o.headers, o.body);
    const post = (path: string, payload: unknown) => call('POST', path, json(payload));
    const register = (id = W, extra: Record<string, unknown> = {}) =>
      post('/api/v1/workers/register', { worker_id: id, backend_type: 'kind', ...extra });
    const submit = async (payload: Record<string, unknown> = { problem_id: 'test-problem-001' }) => {
      const r = await post('/api/v1/tasks', payload);
      assert.equal(r.status, 201, r.text);
      return r.body as Body;
    };
    const claim = async (id = W) => (await call('POST', `/api/v1/workers/${id}/claim`)).body as Body;

    it('accepts body-less POSTs sent as application/octet-stream (aiohttp) or a form (curl -d "")', async () => {
      assert.equal((await register()).status, 201);
      const task = await submit();
      for (const type of ['application/octet-stream', 'application/x-www-form-urlencoded', 'text/plain']) {
        const headers = { 'content-type': type };
        const scale = await call('POST', '/api/v1/workers/internal/scale?num_workers=5', { headers });
        assert.equal(scale.status, 200, `${type}: ${scale.text}`);
        assert.equal((await call('POST', '/api/v1/workers/internal/stop', { headers })).status, 200);
        assert.equal((await call('POST', '/api/v1/workers/internal/start', { headers })).status, 200);
        const hb = await call('POST', `/api/v1/workers/${W}/heartbeat`, { headers });
        assert.equal(hb.status, 200, hb.text);
      }
      assert.deepEqual(pool.calls.slice(0, 3), ['scale:5', 'stop', 'start']);
      // test_integrated.py's exact request: aiohttp posts no data as octet-stream.
      const octet = { 'content-type': 'application/octet-stream' };
      const claimed = await call('POST', `/api/v1/workers/${W}/claim`, { headers: octet });
      assert.equal(claimed.status, 200, claimed.text);
      assert.equal(claimed.body.id, task.id);
      // And with no content type at all (curl -X POST without -d).
      const second = await submit();
      const cancel = await call('POST', `/api/v1/tasks/${second.id}/cancel`, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(cancel.status, 200, cancel.text);
      assert.equal(cancel.body.status, 'cancelled');
      const bare = await call('POST', `/api/v1/tasks/${task.id}/cancel`);
      assert.equal(bare.status, 200, bare.text);
      assert.equal(bare.body.outcome, 'cancel_requested');
    });

    it('keeps required bodies JSON-only with a clear 415, and any non-empty non-JSON body too', async () => {
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const empty = await call('POST', '/api/v1/tasks', { headers: form });
      assert.equal(empty.status, 415, empty.text);
      assert.equal(empty.body.code, 'UNSUPPORTED_MEDIA_TYPE');
      assert.match(empty.body.error, /application\/x-www-form-urlencoded.*needs a JSON body/);
      assert.equal(typeof empty.body.detail, 'string');
      const filled = await call('POST', '/api/v1/tasks', { headers: form, body: 'problem_id=p' });
      assert.equal(filled.status, 415);
      // An optional body must still be JSON when there is one.
      const claimForm = await call('POST', `/api/v1/workers/${W}/claim`, {
        headers: form,
        body: 'worker_id=x',
      });
      assert.equal(claimForm.status, 415);
      assert.deepEqual(pool.calls, []);
    });

    it("stores a complete's body as the predecessor did, and ours as its result", async () => {
      await register();
      const cases: [Record<string, unknown>, unknown][] = [
        // The predecessor's worker client posts its whole outcome.
        [
          { success: true, result: { output: 'ok' }, execution_time: '2025-01-14T10:30:50' },
          { success: true, result: { output: 'ok' }, execution_time: '2025-01-14T10:30:50' },
        ],
        // Its documented example has no `result` key at all.
        [
          { solution: 'restart service', confidence: 0.95 },
          { solution: 'restart service', confidence: 0.95 },
        ],
        // Ours: `result` (with the fence fields, which are never stored).
        [{ worker_id: W, attempt: 1, result: { score: 1 } }, { score: 1 }],
        [{ result: [1, 2] }, [1, 2]],
        [{}, null],
      ];
      for (const [payload, stored] of cases) {
        const task = await submit();
        const held = await claim();
        assert.equal(held.id, task.id);
        const done = await post(`/api/v1/workers/${W}/tasks/${task.id}/complete`, payload);
        assert.equal(done.status, 200, done.text);
        assert.equal(done.body.status, 'completed');
        assert.deepEqual(done.body.result, stored, JSON.stringify(payload));
        const read = await call('GET', `/api/v1/tasks/${task.id}`);
        assert.deepEqual(read.body.result, stored);
      }
    });

    it("serves a failure's error_details as text, its structure as error_info", async () => {
      await register();
      const task = await submit();
      await claim();
      // The predecessor's worker client: { error }.
      const failed = await post(`/api/v1/workers/${W}/tasks/${task.id}/fail`, {
        error: 'AIOpsLab import error: No module named aiopslab',
      });
      assert.equal(failed.status, 200, failed.text);
      assert.equal(failed.body.status, 'failed');
      assert.equal(failed.body.error_details, 'AIOpsLab import error: No module named aiopslab');
      assert.deepEqual(failed.body.error_info, {
        message: 'AIOpsLab import error: No module named aiopslab',
      });
      const listed = await call('GET', '/api/v1/tasks?status=failed');
      assert.equal(typeof listed.body.tasks[0].error_details, 'string');
      const fresh = await submit();
      assert.equal(fresh.error_details, null);
      assert.equal(fresh.error_info, null);
    });

    it("logs a task the predecessor's worker runs (it writes none), with total, and reads any level case", async () => {
      await register();
      const task = await submit();
      await claim();
      await call('POST', `/api/v1/tasks/${task.id}/cancel`);
      // The predecessor's worker ignores cancel_task_ids and reports completion anyway.
      const late = await post(`/api/v1/workers/${W}/tasks/${task.id}/complete`, {
        success: true,
        result: { done: 1 },
      });
      assert.equal(late.status, 200, late.text);
      assert.equal(late.body.status, 'cancelled', 'the cancel wins: the user asked for it to stop');
      assert.deepEqual(late.body.result, { success: true, result: { done: 1 } }, 'the report is kept');
      assert.match(late.body.error_details, /cancel was requested before worker worker-001-kind reported/);
      const logs = await call('GET', `/api/v1/tasks/${task.id}/logs`);
      assert.equal(logs.status, 200);
      assert.deepEqual(
        logs.body.logs.map((l: Body) => l.context.event),
        ['created', 'claimed', 'cancel_requested', 'cancelled'],
      );
      assert.equal(logs.body.total, 4);
      for (const l of logs.body.logs) {
        assert.equal(l.source, 'server');
        assert.equal(l.task_id, task.id);
        assert.ok(['debug', 'info', 'warning', 'error', 'critical'].includes(l.level));
        assert.equal(typeof l.message, 'string');
        assert.equal(typeof l.context, 'object');
      }
      const upper = await call('GET', `/api/v1/tasks/${task.id}/logs?level=INFO`);
      assert.equal(upper.status, 200, upper.text);
      assert.deepEqual(
        upper.body.logs.map((l: Body) => l.context.event),
        ['created', 'claimed', 'cancel_requested'],
      );
      assert.equal((await call('GET', `/api/v1/tasks/${task.id}/logs?level=Warning`)).body.total, 1);
    });

    it('echoes backend_type and priority inside parameters, wherever they were given', async () => {
      const nested = await submit({
        problem_id: 'k8s_target_port-misconfig-detection-1',
        parameters: { backend_type: 'orchestrator', max_steps: 25, priority: 7 },
      });
      assert.equal(nested.parameters.backend_type, 'orchestrator');
      assert.equal(nested.parameters.priority, 7);
      assert.equal(nested.priority, 7);
      // test_integrated.py sends priority at the top level (the predecessor ignored it there).
      const top = await submit({
        problem_id: 'test-problem-001',
        parameters: { max_steps: 10 },
        priority: 5,
      });
      assert.equal(top.parameters.priority, 5);
      assert.equal(top.parameters.backend_type, undefined, 'no backend_type given, none echoed');
      const defaulted = await submit({ problem_id: 'p' });
      assert.equal(defaulted.parameters.priority, t.config.DEFAULT_PRIORITY);
    });

    it('registers with 201 and answers a heartbeat with the worker and the lease report', async () => {
      const reg = await register(W, { capabilities: { max_parallel_tasks: 1, supported_problems: [] } });
      assert.equal(reg.status, 201);
      assert.equal(reg.body.id, W);
      const again = await register();
      assert.equal(again.status, 201, 'a re-registration too, as the predecessor answered');
      const task = await submit();
      await claim();
      await call('POST', `/api/v1/tasks/${task.id}/cancel`);
      const hb = await post(`/api/v1/workers/${W}/heartbeat`, { status: 'busy', current_task_id: task.id });
      assert.equal(hb.status, 200);
      // WorkerResponse (api/src/schemas/worker.py), field by field.
      for (const [field, type] of Object.entries({
        id: 'string',
        backend_type: 'string',
        status: 'string',
        last_heartbeat: 'string',
        current_task_id: 'string',
        capabilities: 'object',
        metadata: 'object',
        tasks_completed: 'number',
        tasks_failed: 'number',
        registered_at: 'string',
      }))
        assert.equal(typeof hb.body[field], type, field);
      assert.equal(hb.body.current_task_id, task.id);
      assert.equal(hb.body.status, 'busy');
      assert.equal(hb.body.message, 'Heartbeat received');
      assert.equal(hb.body.timestamp, hb.body.last_heartbeat);
      assert.deepEqual(hb.body.cancel_task_ids, [task.id]);
      assert.deepEqual(hb.body.lost_task_ids, []);
    });

    it('pages 20 tasks by default and sorts by the predecessor’s fields, refusing others with 422', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 22; i++) ids.push((await submit({ problem_id: `p-${i}`, priority: i % 11 })).id);
      const page = await call('GET', '/api/v1/tasks');
      assert.equal(page.body.page_size, 20);
      assert.equal(page.body.tasks.length, 20);
      assert.equal(page.body.total, 22);
      assert.equal(page.body.tasks[0].id, ids.at(-1), 'newest first by default');
      const oldest = await call('GET', '/api/v1/tasks?sort=created_at&page_size=3');
      assert.deepEqual(
        oldest.body.tasks.map((x: Body) => x.id),
        ids.slice(0, 3),
      );
      const byPriority = await call('GET', '/api/v1/tasks?sort=-priority&page_size=2');
      assert.deepEqual(
        byPriority.body.tasks.map((x: Body) => x.priority),
        [10, 10],
      );
      await register();
      const started = await claim();
      const byStart = await call('GET', '/api/v1/tasks?sort=-started_at&page_size=1');
      assert.equal(byStart.body.tasks[0].id, started.id, 'tasks never started sort last');
      for (const sort of ['-completed_at', 'updated_at', '-updated_at', 'started_at'])
        assert.equal((await call('GET', `/api/v1/tasks?sort=${sort}`)).status, 200, sort);
      const bogus = await call('GET', '/api/v1/tasks?sort=bogus');
      assert.equal(bogus.status, 422);
      assert.equal(bogus.body.code, 'VALIDATION_ERROR');
      assert.deepEqual(bogus.body.detail, [
        {
          type: 'string_pattern_mismatch',
          loc: ['query', 'sort'],
          msg: `sort must match ${'^-?(created_at|updated_at|started_at|completed_at|priority)$'}`,
        },
      ]);
    });

    it('answers GET / with docs and health, and serves /ready and /redoc', async () => {
      const root = await call('GET', '/');
      assert.equal(root.body.docs, '/docs');
      assert.equal(root.body.health, '/health');
      assert.equal(typeof root.body.name, 'string');
      assert.equal(typeof root.body.version, 'string');
      assert.equal((await call('GET', root.body.docs)).status < 400, true);
      const ready = await call('GET', '/ready');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { ready: true, database: true, workers: false });
      await register();
      assert.deepEqual((await call('GET', '/ready')).body, { ready: true, database: true, workers: true });
      const redoc = await call('GET', '/redoc');
      assert.equal(redoc.status, 200);
      assert.match(redoc.type, /^text\/html/);
      assert.match(redoc.text, /<redoc spec-url="\/openapi.json">/);
    });

    it('gives every error FastAPI’s detail (text, or the list for a validation error) beside ours', async () => {
      const missing = await call('GET', '/api/v1/tasks/00000000-0000-4000-8000-000000000000');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.code, 'TASK_NOT_FOUND');
      assert.equal(missing.body.detail, missing.body.error);
      assert.match(missing.body.detail, /not found/);
      const invalid = await post('/api/v1/tasks', { parameters: { max_steps: 0 } });
      assert.equal(invalid.status, 422);
      assert.deepEqual(invalid.body.details.location, 'body');
      assert.deepEqual(
        invalid.body.detail.map((d: Body) => [d.type, d.loc]),
        [
          ['missing', ['body', 'problem_id']],
          ['value_error', ['body', 'parameters', 'max_steps']],
        ],
      );
      for (const d of invalid.body.detail) assert.equal(typeof d.msg, 'string');
      const conflict = await call('GET', '/api/v1/tasks?limit=5&page_size=6');
      assert.deepEqual(conflict.body.detail[0].loc, ['query', 'limit']);
      // Cancelling a finished task: 400, as the predecessor answered.
      const task = await submit();
      await call('POST', `/api/v1/tasks/${task.id}/cancel`);
      const twice = await call('POST', `/api/v1/tasks/${task.id}/cancel`);
      assert.equal(twice.status, 400);
      assert.equal(twice.body.code, 'TASK_NOT_CANCELLABLE');
      assert.match(twice.body.detail, /already cancelled/);
    });

    it("lets supported_problems: ['sock-shop'] take sock-shop-chaos, as the predecessor's substring match did", async () => {
      await register(W, { capabilities: { supported_problems: ['sock-shop'] } });
      const other = await submit({ problem_id: 'hotel-reservation-1' });
      const chaos = await submit({ problem_id: 'sock-shop-chaos' });
      assert.equal((await claim()).id, chaos.id);
      assert.equal(await claim(), null);
      const waiting = await call('GET', `/api/v1/tasks/${other.id}`);
      assert.match(waiting.body.waiting_reason, /No live worker offers problem "hotel-reservation-1"/);
    });
  });
}

describe('the predecessor’s /ready and GET / without docs', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp('pglite', { listen: true, env: { ENABLE_DOCS: 'false' } });
  });
  after(() => t.close());

  it('points docs at /openapi.json and serves no /redoc', async () => {
    const root = await send(t.url, 'GET', '/');
    assert.equal(root.body.docs, '/openapi.json');
    assert.equal((await send(t.url, 'GET', root.body.docs)).status, 200);
    assert.equal((await send(t.url, 'GET', '/redoc')).status, 404);
  });
});
