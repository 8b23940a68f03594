import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { createPgliteDb } from '../src/db/pglite.ts';
import { createPostgresDb } from '../src/db/postgres.ts';
import { createQueue } from '../src/queue/index.ts';
import { type Body, createTestApp, json, registerWorker, submitTask, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const PACKAGE_VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

for (const mode of dbModes()) {
  describe(`HTTP errors and plumbing (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode, { env: { BODY_LIMIT_BYTES: '2048' } });
    });
    afterEach(() => t.close());

    const assertError = (res: { statusCode: number; body: string }, status: number, code: string) => {
      assert.equal(res.statusCode, status, res.body);
      const body = json<Body>(res);
      assert.equal(body.code, code);
      assert.equal(typeof body.error, 'string');
      assert.equal(typeof body.details, 'object');
      assert.ok(!res.body.includes('    at '), 'no stack trace reaches the client');
    };

    it('answers malformed JSON with 400 INVALID_JSON', async () => {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/tasks',
        headers: { 'content-type': 'application/json' },
        payload: '{"problem_id": ',
      });
      assertError(res, 400, 'INVALID_JSON');
    });

    it('answers a body over BODY_LIMIT_BYTES with 413 PAYLOAD_TOO_LARGE', async () => {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/tasks',
        payload: { problem_id: 'p', metadata: { blob: 'x'.repeat(3000) } },
      });
      assertError(res, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('answers a non-JSON body with 415 and an unknown route with 404 NOT_FOUND', async () => {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/tasks',
        headers: { 'content-type': 'text/plain' },
        payload: 'problem_id=p',
      });
      assertError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      assertError(await t.inject({ method: 'GET', url: '/api/v2/nothing' }), 404, 'NOT_FOUND');
    });

    it('reads an empty JSON body as no body: a bodiless claim works, a bodiless submit is a 422', async () => {
      await registerWorker(t);
      const headers = { 'content-type': 'application/json' };
      const claim = await t.inject({ method: 'POST', url: '/api/v1/workers/worker-001-kind/claim', headers });
      assert.equal(claim.statusCode, 200);
      const submit = await t.inject({ method: 'POST', url: '/api/v1/tasks', headers });
      assertError(submit, 422, 'VALIDATION_ERROR');
      assert.equal(json<Body>(submit).details.errors[0].field, 'problem_id');
    });

    it('stores text PostgreSQL cannot hold as such (NUL, lone surrogates) and reads it back as sent', async () => {
      await registerWorker(t);
      const task = await submitTask(t);
      await t.inject({ method: 'POST', url: '/api/v1/workers/worker-001-kind/claim' });
      const odd = 'a\u0000b \uD800 \u0001';
      const res = await t.inject({
        method: 'POST',
        url: `/api/v1/workers/worker-001-kind/tasks/${task.id}/logs`,
        payload: {
          logs: [
            { level: 'info', message: odd, context: { [odd]: odd } },
            { level: 'info', message: 'next' },
          ],
        },
      });
      assert.equal(res.statusCode, 200, res.body);
      const logs = json<Body>(
        await t.inject({ method: 'GET', url: `/api/v1/tasks/${task.id}/logs?source=worker` }),
      ).logs;
      assert.deepEqual(
        logs.map((l: Body) => l.message),
        [odd, 'next'],
      );
      assert.deepEqual(logs[0].context, { [odd]: odd });
      const done = await t.inject({
        method: 'POST',
        url: `/api/v1/workers/worker-001-kind/tasks/${task.id}/complete`,
        payload: { result: { out: odd } },
      });
      assert.equal(done.statusCode, 200, done.body);
      assert.deepEqual(json<Body>(done).result, { out: odd });
      const meta = json<Body>(
        await t.inject({
          method: 'POST',
          url: '/api/v1/tasks',
          payload: { problem_id: 'p', metadata: { x: odd }, labels: { k: 'a\u0000b' } },
        }),
      );
      assert.deepEqual(meta.parameters.metadata, { x: odd });
      const listed = json<Body>(
        await t.inject({ method: 'GET', url: `/api/v1/tasks?label=${encodeURIComponent('k=a\u0000b')}` }),
      );
      assert.deepEqual(
        listed.tasks.map((x: Body) => x.id),
        [meta.id],
      );
    });

    it('echoes a safe X-Request-Id and makes one up otherwise', async () => {
      const given = await t.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'req-123' } });
      assert.equal(given.headers['x-request-id'], 'req-123');
      const forged = await t.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'a\tb' } });
      assert.match(String(forged.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      const none = await t.inject({ method: 'GET', url: '/health' });
      assert.match(String(none.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    });
  });

  describe(`health, metrics and docs (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode);
    });
    afterEach(() => t.close());
    const get = (url: string) => t.inject({ method: 'GET', url });

    it('reports degraded without a live worker and healthy with one', async () => {
      const before = json<Body>(await get('/health'));
      assert.equal(before.status, 'degraded');
      assert.equal(before.database.ok, true);
      assert.equal(before.database.kind, mode);
      assert.equal(typeof before.database.latency_ms, 'number');
      await registerWorker(t);
      await submitTask(t);
      const after = json<Body>(await get('/health'));
      assert.equal(after.status, 'healthy');
      assert.equal(after.workers.idle, 1);
      assert.equal(after.queue.pending, 1);
      assert.equal(after.version, PACKAGE_VERSION, 'the version from package.json');
    });

    it('computes queue stats: counts, success rate, wait and run times, oldest pending age', async () => {
      await registerWorker(t);
      const a = await submitTask(t);
      await submitTask(t);
      await t.inject({ method: 'POST', url: '/api/v1/workers/worker-001-kind/claim' });
      await t.inject({
        method: 'POST',
        url: `/api/v1/workers/worker-001-kind/tasks/${a.id}/complete`,
        payload: {},
      });
      const s = json<Body>(await get('/queue/stats'));
      assert.equal(s.total, 2);
      assert.equal(s.completed, 1);
      assert.equal(s.pending, 1);
      assert.equal(s.by_status.completed, 1);
      assert.equal(s.success_rate, 1);
      assert.equal(typeof s.average_wait_seconds, 'number');
      assert.equal(typeof s.average_execution_seconds, 'number');
      assert.ok(s.oldest_pending_age_seconds >= 0);
    });

    it('exposes Prometheus metrics: gauges read at scrape time, claim, fencing and reaper counters', async () => {
      await registerWorker(t);
      const task = await submitTask(t);
      await t.inject({ method: 'POST', url: '/api/v1/workers/worker-001-kind/claim' });
      await t.inject({
        method: 'POST',
        url: `/api/v1/workers/worker-001-kind/tasks/${task.id}/complete`,
        payload: { attempt: 9 },
      });
      t.app.metrics.recordReap({
        requeued: 2,
        failed: 0,
        cancelled: 0,
        timed_out: 1,
        workers_offline: 0,
        leases_honoured: 0,
        terminal: [],
      });
      const res = await get('/metrics');
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      const text = res.body;
      assert.match(text, /^task_queue_size\{status="running"\} 1$/m);
      assert.match(text, /^task_queue_oldest_pending_seconds 0$/m);
      assert.match(text, /^worker_count\{status="busy"\} 1$/m);
      assert.match(text, /^task_claims_total 1$/m);
      assert.match(text, /^task_fencing_rejections_total\{code="STALE_ATTEMPT"\} 1$/m);
      assert.match(text, /^task_reaper_actions_total\{action="requeued"\} 2$/m);
      assert.match(text, /^task_reaper_actions_total\{action="timed_out"\} 1$/m);
      assert.match(text, /^task_executor_database_up 1$/m);
      assert.match(
        text,
        /http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/workers\/:id\/claim",status_code="200"\} 1/,
      );
    });

    it('serves /openapi.json listing every path, and the root links', async () => {
      const doc = json<Body>(await get('/openapi.json'));
      assert.match(doc.openapi, /^3\./);
      for (const path of [
        '/api/v1/tasks',
        '/api/v1/tasks/batch',
        '/api/v1/tasks/{id}/logs',
        '/api/v1/workers/{id}/claim',
        '/api/v1/workers/{id}/tasks/{task_id}/release',
        '/api/v1/workers/internal/scale',
        '/api/v1/llm-conversations/stats/summary',
        '/health',
        '/metrics',
      ])
        assert.ok(doc.paths[path], `${path} missing from OpenAPI`);
      assert.ok(doc.paths['/api/v1/tasks/{id}'].delete);
      assert.ok(doc.paths['/api/v1/tasks'].post.responses['422']);
      const root = json<Body>(await get('/'));
      assert.equal(root.name, 'Task Executor');
      assert.equal(root.links.openapi, '/openapi.json');
      assert.equal((await get('/docs')).statusCode < 400, true);
    });
  });
}

describe('docs switch', () => {
  it('serves no /docs when ENABLE_DOCS is false but still /openapi.json', async () => {
    const t = await createTestApp('pglite', { env: { ENABLE_DOCS: 'false' } });
    try {
      assert.equal((await t.inject({ method: 'GET', url: '/docs' })).statusCode, 404);
      assert.equal((await t.inject({ method: 'GET', url: '/openapi.json' })).statusCode, 200);
    } finally {
      await t.close();
    }
  });
});

describe('database unreachable', () => {
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const cases = [
    [
      'a closed PGlite',
      async () => {
        const db = await createPgliteDb();
        await db.close();
        return db;
      },
    ],
    // Port 1 refuses connections: the driver's ECONNREFUSED path, as when the server is down.
    [
      'a PostgreSQL server that refuses connections',
      async () => createPostgresDb('postgres://postgres@127.0.0.1:1/x', 1),
    ],
  ] as const;
  for (const [name, open] of cases) {
    it(`answers 503 on /health and DATABASE_UNAVAILABLE on task routes with ${name}`, async () => {
      const db = await open();
      const queue = createQueue(db, { leaseSeconds: 60, notifyDebounceMs: 0 });
      const app = await createApp({ config, queue, logger: false });
      try {
        const health = await app.inject({ method: 'GET', url: '/health' });
        assert.equal(health.statusCode, 503);
        assert.equal(json(health).status, 'unhealthy');
        assert.equal(json<Body>(health).database.ok, false);
        const submit = await app.inject({
          method: 'POST',
          url: '/api/v1/tasks',
          payload: { problem_id: 'p' },
        });
        assert.equal(submit.statusCode, 503);
        assert.equal(json(submit).code, 'DATABASE_UNAVAILABLE');
        const list = await app.inject({ method: 'GET', url: '/api/v1/tasks' });
        assert.equal(list.statusCode, 503);
        const metrics = await app.inject({ method: 'GET', url: '/metrics' });
        assert.equal(metrics.statusCode, 200, 'counters are served even without the database');
        assert.match(metrics.body, /^task_executor_database_up 0$/m);
      } finally {
        await app.close();
        if (db.kind === 'postgres') await db.close();
      }
    });
  }
});
