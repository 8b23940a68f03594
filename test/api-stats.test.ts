/**
 * The stats endpoints over HTTP: counts from the counters, averages over the window the
 * response names (`window` query: 1h, 24h, all), and the predecessor's field names beside ours.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Body, createTestApp, json, registerWorker, submitTask, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const WORKER = 'worker-001-kind';

for (const mode of dbModes()) {
  describe(`stats endpoints (${mode})`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(mode);
      await registerWorker(t, WORKER);
      for (const problem of ['p-1', 'p-1', 'p-2']) {
        await submitTask(t, { problem_id: problem });
        const claim = json<Body>(await t.inject({ method: 'POST', url: `/api/v1/workers/${WORKER}/claim` }));
        const verb = problem === 'p-2' ? 'fail' : 'complete';
        const res = await t.inject({
          method: 'POST',
          url: `/api/v1/workers/${WORKER}/tasks/${claim.id}/${verb}`,
          payload: verb === 'fail' ? { error: 'broke' } : { result: { ok: true } },
        });
        assert.equal(res.statusCode, 200, res.body);
      }
      await submitTask(t, { problem_id: 'p-3' });
    });
    after(() => t.close());

    it('/queue/stats: current counts, averages over the named window, both field names', async () => {
      const s = json<Body>(await t.inject({ method: 'GET', url: '/queue/stats' }));
      assert.deepEqual([s.total, s.pending, s.running, s.completed, s.failed], [4, 1, 0, 2, 1]);
      assert.equal(s.window.window, '1h');
      assert.ok(Date.parse(s.window.since) <= Date.now() - 59 * 60_000);
      assert.equal(s.window.claims, 3);
      assert.equal(s.window.completed, 2);
      assert.equal(typeof s.average_wait_seconds, 'number');
      assert.equal(s.average_wait_time, s.average_wait_seconds);
      assert.equal(s.average_execution_time, s.average_execution_seconds);
      const all = json<Body>(await t.inject({ method: 'GET', url: '/queue/stats?window=all' }));
      assert.equal(all.window.window, 'all');
      assert.equal(all.window.since, null);
    });

    it('a window that is not 1h, 24h or all is a 422', async () => {
      for (const url of [
        '/queue/stats?window=7d',
        '/api/v1/tasks/stats?window=x',
        `/api/v1/workers/${WORKER}/stats?window=`,
      ]) {
        const res = await t.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 422, `${url}: ${res.body}`);
      }
    });

    it('/api/v1/tasks/stats: ours and the predecessor’s fields', async () => {
      const s = json<Body>(await t.inject({ method: 'GET', url: '/api/v1/tasks/stats?window=24h' }));
      assert.equal(s.total, 4);
      assert.equal(s.total_tasks, 4);
      assert.equal(s.pending_tasks, 1);
      assert.equal(s.completed_tasks, 2);
      assert.equal(s.failed_tasks, 1);
      assert.ok(Math.abs(s.success_rate - 2 / 3) < 1e-9);
      assert.deepEqual(s.tasks_by_problem, { 'p-1': 2, 'p-2': 1, 'p-3': 1 });
      assert.deepEqual(s.tasks_by_worker, { [WORKER]: 3 });
      assert.equal(s.window.window, '24h');
      assert.equal(s.avg_execution_time, s.average_execution_seconds);
    });

    it('/api/v1/workers/{id}/stats: counts, window, uptime and status', async () => {
      const s = json<Body>(await t.inject({ method: 'GET', url: `/api/v1/workers/${WORKER}/stats` }));
      assert.equal(s.worker_id, WORKER);
      assert.deepEqual([s.tasks_completed, s.tasks_failed, s.tasks_total, s.total_tasks], [2, 1, 3, 3]);
      assert.ok(Math.abs(s.success_rate - 2 / 3) < 1e-9);
      assert.equal(s.window.window, '1h');
      assert.equal(s.window.completed, 2);
      assert.equal(s.average_task_duration, s.average_execution_seconds);
      assert.ok(s.uptime_seconds >= 0);
      assert.equal(s.current_status, 'idle');
    });

    it('success_rate is 0, not null, where the predecessor promised a number', async () => {
      const fresh = await createTestApp(mode);
      try {
        await registerWorker(fresh, WORKER);
        const tasks = json<Body>(await fresh.inject({ method: 'GET', url: '/api/v1/tasks/stats' }));
        assert.equal(tasks.success_rate, 0);
        const worker = json<Body>(
          await fresh.inject({ method: 'GET', url: `/api/v1/workers/${WORKER}/stats` }),
        );
        assert.equal(worker.success_rate, 0);
        const queue = json<Body>(await fresh.inject({ method: 'GET', url: '/queue/stats' }));
        assert.equal(queue.success_rate, null, '/queue/stats was Optional in the predecessor');
      } finally {
        await fresh.close();
      }
    });
  });
}
