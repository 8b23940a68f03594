import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type Body, createTestApp, json, registerWorker, submitTask, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

type Task = Body;

for (const mode of dbModes()) {
  describe(`tasks API (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode, { env: { DEFAULT_AGENT_MODEL: 'model-x', DEFAULT_MAX_STEPS: '30' } });
    });
    afterEach(() => t.close());

    const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
      t.inject({ method: 'POST', url, payload: payload as Body, headers });
    const get = (url: string) => t.inject({ method: 'GET', url });

    it('accepts options inside parameters (the seed README shape) and fills defaults from config', async () => {
      const res = await post('/api/v1/tasks', {
        problem_id: 'k8s_target_port-misconfig-detection-1',
        parameters: {
          backend_type: 'orchestrator',
          max_steps: 25,
          priority: 7,
          agent_config: { temperature: 0 },
        },
      });
      assert.equal(res.statusCode, 201);
      const task = json<Task>(res);
      assert.equal(task.status, 'pending');
      assert.equal(task.priority, 7);
      assert.equal(task.backend_type, 'orchestrator');
      assert.equal(task.parameters.max_steps, 25);
      assert.equal(task.parameters.timeout_minutes, 30);
      assert.deepEqual(task.parameters.agent_config, { temperature: 0, model: 'model-x' });
      // Echoed in parameters as the predecessor kept them there.
      assert.equal(task.parameters.backend_type, 'orchestrator');
      assert.equal(task.parameters.priority, 7);
    });

    it('accepts options at the top level, which win over parameters', async () => {
      const task = json<Task>(
        await post('/api/v1/tasks', {
          problem_id: 'p-top',
          max_steps: 5,
          timeout_minutes: 2,
          max_attempts: 3,
          labels: { team: 'rl', run: '7' },
          metadata: { who: 'me' },
          callback_url: 'https://example.test/hook',
          agent_config: { model: 'mine' },
          parameters: { max_steps: 99, custom: 'kept' },
        }),
      );
      assert.equal(task.parameters.max_steps, 5);
      assert.equal(task.parameters.timeout_minutes, 2);
      assert.equal(task.parameters.custom, 'kept');
      assert.equal(task.parameters.callback_url, 'https://example.test/hook');
      assert.deepEqual(task.parameters.metadata, { who: 'me' });
      assert.deepEqual(task.labels, { team: 'rl', run: '7' });
      assert.equal(task.parameters.agent_config.model, 'mine');
      assert.equal(task.max_attempts, 3);
      assert.equal(task.priority, 5);
    });

    it('treats null options as not given', async () => {
      const task = json<Task>(
        await post('/api/v1/tasks', {
          problem_id: 'p-null',
          priority: null,
          backend_type: null,
          parameters: null,
        }),
      );
      assert.equal(task.priority, 5);
      assert.equal(task.backend_type, null);
    });

    it('rejects out-of-range and malformed fields with 422 naming each field', async () => {
      const cases: [Body, string][] = [
        [{ problem_id: '' }, 'problem_id'],
        [{ problem_id: 'bad id with spaces' }, 'problem_id'],
        [{}, 'problem_id'],
        [{ problem_id: 'p', max_steps: 0 }, 'max_steps'],
        [{ problem_id: 'p', max_steps: 1001 }, 'max_steps'],
        [{ problem_id: 'p', timeout_minutes: 181 }, 'timeout_minutes'],
        [{ problem_id: 'p', priority: 11 }, 'priority'],
        [{ problem_id: 'p', priority: '7' }, 'priority'],
        [{ problem_id: 'p', max_attempts: 0 }, 'max_attempts'],
        [{ problem_id: 'p', callback_url: 'ftp://example.test/x' }, 'callback_url'],
        [{ problem_id: 'p', labels: { 'bad key': 'v' } }, 'labels.bad key'],
        [{ problem_id: 'p', labels: { k: 5 } }, 'labels.k'],
        [{ problem_id: 'p', parameters: { max_steps: 0 } }, 'parameters.max_steps'],
      ];
      for (const [payload, field] of cases) {
        const res = await post('/api/v1/tasks', payload);
        assert.equal(res.statusCode, 422, `${JSON.stringify(payload)} → ${res.body}`);
        const body = json<Body>(res);
        assert.equal(body.code, 'VALIDATION_ERROR');
        assert.equal(body.details.location, 'body');
        const fields = body.details.errors.map((e: Body) => e.field);
        assert.ok(fields.includes(field), `${field} not in ${JSON.stringify(body.details.errors)}`);
        assert.ok(
          body.details.errors.every((e: Body) => typeof e.reason === 'string' && e.reason.length > 0),
        );
      }
    });

    it('returns the existing task with 200 when the idempotency key field repeats', async () => {
      const first = await post('/api/v1/tasks', { problem_id: 'p', idempotency_key: 'k-1' });
      const again = await post('/api/v1/tasks', { problem_id: 'p', parameters: { idempotency_key: 'k-1' } });
      assert.equal(first.statusCode, 201);
      assert.equal(again.statusCode, 200);
      assert.equal(json(again).id, json(first).id);
    });

    it('honours the Idempotency-Key header and refuses a body key that contradicts it', async () => {
      const first = await post('/api/v1/tasks', { problem_id: 'p' }, { 'idempotency-key': 'hdr-1' });
      const again = await post('/api/v1/tasks', { problem_id: 'p' }, { 'idempotency-key': 'hdr-1' });
      assert.equal(first.statusCode, 201);
      assert.equal(again.statusCode, 200);
      assert.equal(json(again).id, json(first).id);
      assert.equal(json(first).idempotency_key, 'hdr-1');
      const clash = await post(
        '/api/v1/tasks',
        { problem_id: 'p', idempotency_key: 'other' },
        { 'idempotency-key': 'hdr-1' },
      );
      assert.equal(clash.statusCode, 422);
      assert.equal(json<Body>(clash).details.errors[0].field, 'idempotency_key');
    });

    it('submits 1000 tasks in one batch call, in order', async () => {
      const tasks = Array.from({ length: 1000 }, (_, i) => ({ problem_id: `batch-${i}`, priority: i % 11 }));
      const res = await post('/api/v1/tasks/batch', { tasks });
      assert.equal(res.statusCode, 201);
      const body = json<Body>(res);
      assert.equal(body.created, 1000);
      assert.equal(body.existing, 0);
      assert.deepEqual(
        body.tasks.map((x: Task) => x.problem_id),
        tasks.map((x) => x.problem_id),
      );
      assert.equal(json<Body>(await get('/api/v1/tasks?limit=1')).total, 1000);
    });

    it('refuses a batch of 1001 tasks or of none with 422, storing nothing', async () => {
      const tasks = Array.from({ length: 1001 }, (_, i) => ({ problem_id: `b-${i}` }));
      const big = await post('/api/v1/tasks/batch', { tasks });
      assert.equal(big.statusCode, 422);
      assert.equal(json<Body>(big).details.errors[0].field, 'tasks');
      assert.equal((await post('/api/v1/tasks/batch', { tasks: [] })).statusCode, 422);
      assert.equal(json<Body>(await get('/api/v1/tasks')).total, 0);
    });

    it('reports a bad batch item by its index', async () => {
      const res = await post('/api/v1/tasks/batch', {
        tasks: [{ problem_id: 'ok' }, { problem_id: 'ok', max_steps: -1 }],
      });
      assert.equal(res.statusCode, 422);
      assert.ok(json<Body>(res).details.errors.some((e: Body) => e.field === 'tasks[1].max_steps'));
    });

    it('counts batch items whose idempotency key was seen before as existing', async () => {
      await post('/api/v1/tasks', { problem_id: 'p', idempotency_key: 'dup' });
      const res = await post('/api/v1/tasks/batch', {
        tasks: [
          { problem_id: 'p', idempotency_key: 'dup' },
          { problem_id: 'q', idempotency_key: 'new' },
          { problem_id: 'r' },
        ],
      });
      const body = json<Body>(res);
      assert.equal(body.created, 2);
      assert.equal(body.existing, 1);
    });

    it('makes a retried batch with the same Idempotency-Key header return the same tasks', async () => {
      const payload = { tasks: [{ problem_id: 'a' }, { problem_id: 'b' }] };
      const first = json<Body>(await post('/api/v1/tasks/batch', payload, { 'idempotency-key': 'batch-7' }));
      const again = json<Body>(await post('/api/v1/tasks/batch', payload, { 'idempotency-key': 'batch-7' }));
      assert.equal(again.existing, 2);
      assert.deepEqual(
        again.tasks.map((x: Task) => x.id),
        first.tasks.map((x: Task) => x.id),
      );
    });

    it('filters the list by status, problem, backend and labels (label=key=value or key:value, all must match)', async () => {
      await submitTask(t, { problem_id: 'alpha', labels: { team: 'rl', exp: '1' } });
      await submitTask(t, {
        problem_id: 'alpha',
        labels: { team: 'rl', exp: '2' },
        backend_type: 'aiopslab',
      });
      await submitTask(t, { problem_id: 'beta', labels: { team: 'ops' } });
      const ids = async (q: string) =>
        json<Body>(await get(`/api/v1/tasks?${q}`)).tasks.map(
          (x: Task) => `${x.problem_id}:${x.labels.exp ?? '-'}`,
        );
      assert.deepEqual((await ids('label=team=rl')).sort(), ['alpha:1', 'alpha:2']);
      assert.deepEqual(await ids('label=team=rl&label=exp=2'), ['alpha:2']);
      assert.deepEqual(await ids('problem_id=beta'), ['beta:-']);
      assert.deepEqual(await ids('backend_type=aiopslab'), ['alpha:2']);
      assert.equal((await ids('status=pending')).length, 3);
      assert.equal((await ids('status=running')).length, 0);
      assert.deepEqual((await ids('label=team:rl&label=exp=2')).sort(), ['alpha:2'], 'key:value is read too');
      assert.equal((await get('/api/v1/tasks?label=team')).statusCode, 422);
      assert.equal((await get('/api/v1/tasks?label=team=rl&label=team=ops')).statusCode, 422);
    });

    it('paginates with page/page_size and with limit/offset', async () => {
      await post('/api/v1/tasks/batch', {
        tasks: Array.from({ length: 7 }, (_, i) => ({ problem_id: `p${i}` })),
      });
      const p2 = json<Body>(await get('/api/v1/tasks?page=2&page_size=3'));
      assert.deepEqual(
        [p2.total, p2.page, p2.page_size, p2.limit, p2.offset, p2.tasks.length],
        [7, 2, 3, 3, 3, 3],
      );
      const lo = json<Body>(await get('/api/v1/tasks?limit=3&offset=6'));
      assert.deepEqual([lo.page, lo.offset, lo.tasks.length], [3, 6, 1]);
      assert.deepEqual(
        lo.tasks.map((x: Task) => x.problem_id),
        ['p0'],
        'newest first, so the last page holds the first submitted',
      );
      assert.equal((await get('/api/v1/tasks?limit=1001')).statusCode, 422);
      assert.equal((await get('/api/v1/tasks?page=2&offset=3')).statusCode, 422);
      assert.equal((await get('/api/v1/tasks?limit=abc')).statusCode, 422);
      assert.equal((await get('/api/v1/tasks?limit=1.5')).statusCode, 422, 'no silent truncation');
    });

    it('answers 422 for an unknown status in the query', async () => {
      const res = await get('/api/v1/tasks?status=finished');
      assert.equal(res.statusCode, 422);
      const err = json<Body>(res).details.errors[0];
      assert.equal(err.field, 'status');
      assert.ok(err.allowed.includes('pending'));
    });

    it('reads a task; 422 for a malformed id, 404 for an unknown one; stats is not taken for an id', async () => {
      const task = await submitTask(t);
      assert.equal(json(await get(`/api/v1/tasks/${task.id}`)).id, task.id);
      const bad = await get('/api/v1/tasks/not-a-uuid');
      assert.equal(bad.statusCode, 422);
      assert.equal(json<Body>(bad).details.location, 'path');
      const missing = await get('/api/v1/tasks/00000000-0000-4000-8000-000000000000');
      assert.equal(missing.statusCode, 404);
      assert.equal(json(missing).code, 'TASK_NOT_FOUND');
      const stats = json<Body>(await get('/api/v1/tasks/stats'));
      assert.equal(stats.total, 1);
      assert.equal(stats.by_status.pending, 1);
      assert.equal(stats.by_problem[0].problem_id, 'p-1');
    });

    it('cancels a pending task at once, and refuses to cancel a finished one with 400 (as the predecessor)', async () => {
      const a = await submitTask(t);
      const res = await post(`/api/v1/tasks/${a.id}/cancel`, undefined);
      assert.equal(res.statusCode, 200);
      assert.equal(json(res).outcome, 'cancelled');
      assert.equal(json(res).status, 'cancelled');
      // The predecessor's documented answer, beside the task.
      assert.equal(json(res).task_id, a.id);
      assert.equal(json(res).message, 'Task cancelled successfully');
      const again = await t.inject({ method: 'DELETE', url: `/api/v1/tasks/${a.id}` });
      assert.equal(again.statusCode, 400);
      assert.equal(json(again).code, 'TASK_NOT_CANCELLABLE');
      assert.equal(json<Body>(again).details.status, 'cancelled');
      assert.match(json<Body>(again).detail, /already cancelled/);
      const unknown = await t.inject({
        method: 'DELETE',
        url: '/api/v1/tasks/00000000-0000-4000-8000-000000000000',
      });
      assert.equal(unknown.statusCode, 404);
    });

    it('asks the worker of a running task to stop when it is cancelled via DELETE', async () => {
      await registerWorker(t);
      const task = await submitTask(t);
      await post('/api/v1/workers/worker-001-kind/claim', undefined);
      const res = await t.inject({ method: 'DELETE', url: `/api/v1/tasks/${task.id}` });
      assert.equal(json(res).outcome, 'cancel_requested');
      assert.equal(json(res).status, 'running');
      assert.equal(json(res).cancel_requested, true);
    });

    it('serves logs: the most recent window in time order, a cursor, level and since filters', async () => {
      await registerWorker(t);
      const task = await submitTask(t);
      await post('/api/v1/workers/worker-001-kind/claim', undefined);
      const levels = ['info', 'debug', 'warning', 'error', 'info'];
      const logs = levels.map((level, i) => ({ level, message: `m${i}` }));
      await post(`/api/v1/workers/worker-001-kind/tasks/${task.id}/logs`, { logs });
      // source=worker: without it the server's own lines (created, claimed) come too.
      const url = `/api/v1/tasks/${task.id}/logs?source=worker`;
      const recent = json<Body>(await get(`${url}&limit=2`));
      assert.deepEqual(
        recent.logs.map((l: Body) => l.message),
        ['m3', 'm4'],
      );
      const all = json<Body>(await get(url));
      assert.equal(all.logs.length, 5);
      assert.equal(all.total, 5);
      const after = json<Body>(await get(`${url}&after=${all.logs[1].seq}&limit=2`));
      assert.deepEqual(
        after.logs.map((l: Body) => l.message),
        ['m2', 'm3'],
      );
      assert.equal(after.next_after, all.logs[3].seq);
      const errs = json<Body>(await get(`${url}&level=error,warning`));
      assert.deepEqual(
        errs.logs.map((l: Body) => l.level),
        ['warning', 'error'],
      );
      const future = json<Body>(await get(`${url}&since=2999-01-01T00:00:00Z`));
      assert.equal(future.logs.length, 0);
      assert.equal(future.total, 0);
      assert.equal((await get(`${url}&level=loud`)).statusCode, 422);
      assert.equal((await get(`${url}&since=yesterday`)).statusCode, 422);
      assert.equal((await get(`${url}&limit=1001`)).statusCode, 422);
      assert.equal((await get(`/api/v1/tasks/${task.id}/logs?source=a%20b`)).statusCode, 422);
      // Every line of the task: the server's (created, claimed) then the worker's.
      const everything = json<Body>(await get(`/api/v1/tasks/${task.id}/logs`));
      assert.deepEqual(
        everything.logs.map((l: Body) => [l.source, l.context?.event ?? l.message]),
        [['server', 'created'], ['server', 'claimed'], ...logs.map((l) => ['worker', l.message])],
      );
      const withLogs = json<Body>(await get(`/api/v1/tasks/${task.id}?include_logs=true`));
      assert.equal(withLogs.logs.length, 7);
      const pythonic = json<Body>(await get(`/api/v1/tasks/${task.id}?include_logs=True`));
      assert.equal(pythonic.logs.length, 7, "Python's requests spells true as True");
      assert.equal((await get(`/api/v1/tasks/${task.id}?include_logs=yes`)).statusCode, 422);
      assert.equal(json<Body>(await get(`/api/v1/tasks/${task.id}`)).logs, undefined);
      assert.equal((await get('/api/v1/tasks/00000000-0000-4000-8000-000000000000/logs')).statusCode, 404);
    });
  });
}
