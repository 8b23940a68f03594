import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type Body, createTestApp, json, registerWorker, submitTask, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const W = 'worker-001-kind';
const W2 = 'worker-002-kind';

for (const mode of dbModes()) {
  describe(`workers API (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode, { env: { LEASE_SECONDS: '45' } });
    });
    afterEach(() => t.close());

    const post = (url: string, payload?: unknown) =>
      t.inject({ method: 'POST', url: `/api/v1${url}`, payload: payload as Body });
    const get = (url: string) => t.inject({ method: 'GET', url: `/api/v1${url}` });
    const claim = async (worker = W) => json<Body | null>(await post(`/workers/${worker}/claim`));

    it('registers with worker_id or id, capabilities nested or at the top level, and defaults', async () => {
      const a = await registerWorker(t, W);
      assert.equal(a.backend_type, 'command');
      assert.deepEqual(a.capabilities, { max_parallel_tasks: 1, supported_problems: [] });
      const b = json<Body>(
        await post('/workers/register', {
          id: W2,
          backend_type: 'sandbox',
          capabilities: { max_parallel_tasks: 4, gpu: true },
          supported_problems: ['k8s_*'],
          metadata: { host: 'h1' },
        }),
      );
      assert.equal(b.worker_id, W2);
      assert.deepEqual(b.capabilities, { max_parallel_tasks: 4, supported_problems: ['k8s_*'], gpu: true });
      assert.deepEqual(b.metadata, { host: 'h1' });
      const list = json<Body>(await get('/workers'));
      assert.equal(list.total, 2);
      assert.deepEqual(
        json<Body>(await get('/workers?backend_type=sandbox')).workers.map((w: Body) => w.id),
        [W2],
      );
      assert.equal(json<Body>(await get(`/workers/${W}`)).id, W);
      assert.equal((await get('/workers/worker-999-kind')).statusCode, 404);
      assert.equal((await get('/workers?status=sleeping')).statusCode, 422);
    });

    it('refuses a worker id that does not match WORKER_ID_PATTERN, naming the pattern', async () => {
      const res = await post('/workers/register', { worker_id: 'my-laptop' });
      assert.equal(res.statusCode, 422);
      const err = json<Body>(res).details.errors[0];
      assert.equal(err.field, 'worker_id');
      assert.equal(err.pattern, t.config.WORKER_ID_PATTERN);
      assert.equal((await post('/workers/register', {})).statusCode, 422);
      assert.equal((await post('/workers/register', { worker_id: W, id: W2 })).statusCode, 422);
      assert.equal(
        (await post('/workers/register', { worker_id: W, max_parallel_tasks: 1001 })).statusCode,
        422,
      );
    });

    it('claims nothing as 200 null, then one task carrying its attempt', async () => {
      await registerWorker(t);
      const empty = await post(`/workers/${W}/claim`);
      assert.equal(empty.statusCode, 200);
      assert.equal(empty.body, 'null');
      const task = await submitTask(t);
      const got = await claim();
      assert.equal(got?.id, task.id);
      assert.equal(got?.status, 'running');
      assert.equal(got?.attempt, 1);
      assert.equal(got?.worker_id, W);
      assert.equal((await post('/workers/worker-404-kind/claim')).statusCode, 404);
      assert.equal((await post(`/workers/${W}/claim?wait=61`)).statusCode, 422);
    });

    it('heartbeats extend held leases and report lost and cancelled tasks', async () => {
      await registerWorker(t, W, { max_parallel_tasks: 2 });
      const a = await submitTask(t);
      const b = await submitTask(t);
      await claim();
      await claim();
      await post(`/tasks/${b.id}/cancel`);
      const gone = '00000000-0000-4000-8000-000000000000';
      const res = await post(`/workers/${W}/heartbeat`, {
        status: 'busy',
        tasks: [
          { task_id: a.id, attempt: 1 },
          { task_id: b.id, attempt: 1 },
          { task_id: gone, attempt: 1 },
        ],
      });
      assert.equal(res.statusCode, 200);
      const hb = json<Body>(res);
      assert.equal(hb.acknowledged, true);
      assert.equal(hb.worker_id, W);
      assert.equal(hb.status, 'busy');
      assert.equal(hb.lease_seconds, 45);
      assert.deepEqual(hb.extended.map((l: Body) => l.task_id).sort(), [a.id, b.id].sort());
      assert.deepEqual(hb.lost_task_ids, [gone]);
      assert.deepEqual(hb.cancel_task_ids, [b.id]);
      const none = json<Body>(await post(`/workers/${W}/heartbeat`));
      assert.equal(none.extended.length, 2, 'no task list: every held lease is extended');
    });

    it('answers a heartbeat naming a current_task_id the worker no longer holds with 200, listing it as lost', async () => {
      await registerWorker(t, W);
      await registerWorker(t, W2);
      const task = await submitTask(t);
      await claim(W);
      const mine = await post(`/workers/${W}/heartbeat`, { status: 'busy', current_task_id: task.id });
      assert.equal(mine.statusCode, 200);
      assert.deepEqual(json<Body>(mine).extended, [{ task_id: task.id, attempt: 1 }]);
      assert.deepEqual(json<Body>(mine).lost_task_ids, []);
      const theirs = await post('/workers/heartbeat', {
        worker_id: W2,
        status: 'busy',
        current_task_id: task.id,
      });
      assert.equal(theirs.statusCode, 200, 'the heartbeat itself succeeds (the predecessor answered 200)');
      assert.deepEqual(json<Body>(theirs).lost_task_ids, [task.id]);
      assert.deepEqual(json<Body>(theirs).extended, []);
      assert.equal(json<Body>(theirs).id, W2);
      const idle = await post('/workers/heartbeat', { worker_id: W2, status: 'idle', current_task_id: null });
      assert.equal(idle.statusCode, 200);
      assert.equal((await post('/workers/heartbeat', { status: 'idle' })).statusCode, 422);
      assert.equal((await post('/workers/worker-404-kind/heartbeat', {})).statusCode, 404);
      assert.equal((await post(`/workers/${W}/heartbeat`, { status: 'asleep' })).statusCode, 422);
    });

    it('appends logs, completes with a result, and counts it in the worker stats', async () => {
      await registerWorker(t);
      const task = await submitTask(t);
      const held = await claim();
      const logs = await post(`/workers/${W}/tasks/${task.id}/logs`, {
        attempt: held?.attempt,
        logs: [{ level: 'info', message: 'step 1', context: { step: 1 }, source: 'agent' }],
      });
      assert.equal(logs.statusCode, 200);
      assert.deepEqual(json(logs), { accepted: 1 });
      const done = await post(`/workers/${W}/tasks/${task.id}/complete`, {
        worker_id: W,
        attempt: 1,
        result: { score: 1 },
      });
      assert.equal(done.statusCode, 200);
      assert.equal(json(done).status, 'completed');
      assert.deepEqual(json(done).result, { score: 1 });
      const stats = json<Body>(await get(`/workers/${W}/stats`));
      assert.equal(stats.tasks_completed, 1);
      assert.equal(stats.success_rate, 1);
      assert.equal((await get('/workers/worker-404-kind/stats')).statusCode, 404);
      const tooMany = Array.from({ length: 1001 }, () => ({ level: 'info', message: 'x' }));
      assert.equal((await post(`/workers/${W}/tasks/${task.id}/logs`, { logs: tooMany })).statusCode, 422);
    });

    it('serves a failure as text in error_details and structured in error_info; retry puts the task back', async () => {
      await registerWorker(t);
      const a = await submitTask(t);
      await claim();
      const failed = json<Body>(
        await post(`/workers/${W}/tasks/${a.id}/fail`, { worker_id: W, error_message: 'boom' }),
      );
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error_details, 'boom');
      assert.deepEqual(failed.error_info, { message: 'boom' });
      const b = await submitTask(t, { problem_id: 'p-2', max_attempts: 2 });
      await claim();
      const retried = json<Body>(
        await post(`/workers/${W}/tasks/${b.id}/fail`, {
          attempt: 1,
          error_details: { kind: 'flaky', reason: 'exit_code', message: 'exit 3' },
          retry: true,
        }),
      );
      assert.equal(retried.status, 'pending');
      assert.equal(retried.error_details, 'exit 3');
      assert.deepEqual(retried.error_info, { kind: 'flaky', reason: 'exit_code', message: 'exit 3' });
      assert.equal((await claim())?.attempt, 2);
      // Text error_details (the predecessor's type) is kept as the message.
      const text = json<Body>(
        await post(`/workers/${W}/tasks/${b.id}/fail`, { error_details: 'disk full', retry: true }),
      );
      assert.equal(text.status, 'failed', 'no attempts left');
      assert.equal(text.error_details, 'disk full');
      assert.deepEqual(text.error_info, { message: 'disk full' });
      // Completing clears the error of an earlier attempt: a completed task shows none.
      const c = await submitTask(t, { problem_id: 'p-3', max_attempts: 2 });
      await claim();
      await post(`/workers/${W}/tasks/${c.id}/fail`, { error: 'flaky', retry: true });
      await claim();
      const done = json<Body>(await post(`/workers/${W}/tasks/${c.id}/complete`, { result: 1 }));
      assert.equal(done.status, 'completed');
      assert.equal(done.error_details, null);
      assert.equal(done.error_info, null);
    });

    it('releases a task back to the queue without charging the attempt', async () => {
      await registerWorker(t);
      const task = await submitTask(t);
      await claim();
      const res = await post(`/workers/${W}/tasks/${task.id}/release`, { attempt: 1 });
      assert.equal(res.statusCode, 200);
      assert.equal(json(res).status, 'pending');
      assert.equal(json(res).worker_id, null);
    });

    it('fences every report: 409 with the queue reason for each way of not holding the task', async () => {
      await registerWorker(t, W);
      await registerWorker(t, W2);
      const task = await submitTask(t, { problem_id: 'p', max_attempts: 3 });
      await claim(W);
      const report = (worker: string, path: string, body: Body) =>
        post(`/workers/${worker}/tasks/${task.id}/${path}`, body);
      const expect409 = async (res: Awaited<ReturnType<typeof post>>, code: string) => {
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(json(res).code, code);
      };
      await expect409(await report(W2, 'complete', {}), 'TASK_NOT_HELD');
      await expect409(await report(W2, 'logs', { logs: [{ level: 'info', message: 'x' }] }), 'TASK_NOT_HELD');
      await expect409(await report(W, 'complete', { attempt: 2 }), 'STALE_ATTEMPT');
      await post(`/workers/${W}/tasks/${task.id}/release`, {});
      await expect409(await report(W, 'fail', { error: 'x' }), 'TASK_NOT_RUNNING');
      await claim(W);
      await report(W, 'complete', { attempt: 2 });
      await expect409(await report(W, 'complete', { attempt: 2 }), 'TASK_ALREADY_TERMINAL');
      await expect409(await report(W, 'release', {}), 'TASK_ALREADY_TERMINAL');
      const mismatch = await report(W, 'complete', { worker_id: W2 });
      assert.equal(mismatch.statusCode, 422);
      const unknown = await post(`/workers/${W}/tasks/00000000-0000-4000-8000-000000000000/complete`, {});
      assert.equal(unknown.statusCode, 404);
    });

    it('does not let a worker id shadow the internal-workers routes', async () => {
      await registerWorker(t, 'worker-001-internal');
      const res = await get('/workers/internal/status');
      assert.equal(res.statusCode, 200);
      assert.equal(json(res).enabled, false);
    });
  });
}
