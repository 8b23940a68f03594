/**
 * The worker protocol with fewer round trips, against the real API and database: a claim of
 * many (`max_tasks`), reports that claim the next tasks (`claim_next`), the batched report
 * (`/reports`) with per-report fencing, and the long-poll dispatcher handing one task to one
 * parked worker, of the right kind.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type Body, createTestApp, json, registerWorker, submitTask, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const W = 'worker-001-kind';
const W2 = 'worker-002-kind';

for (const mode of dbModes()) {
  describe(`worker batch protocol (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode);
    });
    afterEach(() => t.close());

    const post = (url: string, payload?: unknown) =>
      t.inject({ method: 'POST', url: `/api/v1${url}`, payload: payload as Body });
    const task = async (id: string) =>
      json<Body>(await t.inject({ method: 'GET', url: `/api/v1/tasks/${id}` }));

    it('claims up to max_tasks at once, the first task beside the list; without it, one or null', async () => {
      await registerWorker(t, W, { max_parallel_tasks: 4 });
      const ids = [(await submitTask(t)).id, (await submitTask(t)).id, (await submitTask(t)).id];
      const got = json<Body>(await post(`/workers/${W}/claim`, { max_tasks: 4 }));
      assert.deepEqual(got.tasks.map((x: Body) => x.id).sort(), [...ids].sort());
      assert.equal(got.id, got.tasks[0].id);
      assert.ok(got.tasks.every((x: Body) => x.attempt === 1 && typeof x.llm_api_key === 'string'));
      assert.deepEqual(json<Body>(await post(`/workers/${W}/claim`, { max_tasks: 4 })), { tasks: [] });
      assert.equal((await post(`/workers/${W}/claim`)).body, 'null');
      assert.equal((await post(`/workers/${W}/claim`, { max_tasks: 0 })).statusCode, 422);
    });

    it('a claim of many never exceeds the worker’s free slots', async () => {
      await registerWorker(t, W, { max_parallel_tasks: 2 });
      for (let i = 0; i < 4; i++) await submitTask(t);
      assert.equal(json<Body>(await post(`/workers/${W}/claim`, { max_tasks: 10 })).tasks.length, 2);
      assert.deepEqual(json<Body>(await post(`/workers/${W}/claim`, { max_tasks: 10 })), { tasks: [] });
    });

    it('complete with claim_next returns the next task; the protocol fields are not stored', async () => {
      await registerWorker(t, W);
      const first = await submitTask(t);
      const second = await submitTask(t);
      const claimed = json<Body>(await post(`/workers/${W}/claim`));
      assert.equal(claimed.id, first.id);
      const res = await post(`/workers/${W}/tasks/${first.id}/complete`, {
        attempt: 1,
        result: { ok: 1 },
        claim_next: 1,
        claim_id: 'next-1',
      });
      assert.equal(res.statusCode, 200);
      const body = json<Body>(res);
      assert.equal(body.status, 'completed');
      assert.deepEqual(body.result, { ok: 1 });
      assert.deepEqual(
        body.next_tasks.map((x: Body) => [x.id, x.attempt]),
        [[second.id, 1]],
      );
      assert.equal((await task(second.id)).status, 'running');
      // A retried request (its answer lost) gets the same next task back, not another.
      const third = await submitTask(t);
      const again = await post(`/workers/${W}/tasks/${first.id}/complete`, {
        attempt: 1,
        result: { ok: 1 },
        claim_next: 1,
        claim_id: 'next-1',
      });
      assert.equal(again.statusCode, 409);
      assert.equal((await task(third.id)).status, 'pending');
    });

    it('fail with claim_next fails the task and claims the next one', async () => {
      await registerWorker(t, W);
      const first = await submitTask(t);
      const second = await submitTask(t);
      await post(`/workers/${W}/claim`);
      const body = json<Body>(
        await post(`/workers/${W}/tasks/${first.id}/fail`, {
          attempt: 1,
          error_details: { reason: 'x' },
          claim_next: 1,
        }),
      );
      assert.equal(body.status, 'failed');
      assert.deepEqual(
        body.next_tasks.map((x: Body) => x.id),
        [second.id],
      );
    });

    it('/reports fences each report on its own: a stale one is refused, the others go through', async () => {
      await registerWorker(t, W, { max_parallel_tasks: 3 });
      const [a, b, c] = [await submitTask(t), await submitTask(t), await submitTask(t)];
      json<Body>(await post(`/workers/${W}/claim`, { max_tasks: 3 }));
      const next = await submitTask(t);
      const res = await post(`/workers/${W}/reports`, {
        reports: [
          { task_id: a.id, attempt: 1, outcome: 'complete', result: { score: 1 } },
          { task_id: b.id, attempt: 7, outcome: 'complete', result: { score: 2 } },
          { task_id: c.id, attempt: 1, outcome: 'fail', error_details: { reason: 'boom' } },
        ],
        claim_next: 2,
      });
      assert.equal(res.statusCode, 200);
      const body = json<Body>(res);
      assert.deepEqual(body.results, [
        { task_id: a.id, accepted: true, status: 'completed' },
        {
          task_id: b.id,
          accepted: false,
          code: 'STALE_ATTEMPT',
          error: `Attempt 7 of task ${b.id} is stale; current is 1`,
        },
        { task_id: c.id, accepted: true, status: 'failed' },
      ]);
      // b still holds a slot: of the two asked for, one is free (c's and a's, less the pending one).
      assert.deepEqual(
        body.tasks.map((x: Body) => x.id),
        [next.id],
      );
      assert.deepEqual((await task(a.id)).result, { score: 1 });
      assert.equal((await task(b.id)).status, 'running');
      assert.equal((await task(c.id)).error_info.reason, 'boom');
    });

    it('/reports refuses another worker’s task and a task named twice', async () => {
      await registerWorker(t, W);
      await registerWorker(t, W2);
      const a = await submitTask(t);
      await post(`/workers/${W}/claim`);
      const stolen = json<Body>(
        await post(`/workers/${W2}/reports`, {
          reports: [{ task_id: a.id, attempt: 1, outcome: 'complete' }],
        }),
      );
      assert.equal(stolen.results[0].code, 'TASK_NOT_HELD');
      assert.equal((await task(a.id)).status, 'running');
      const twice = await post(`/workers/${W}/reports`, {
        reports: [
          { task_id: a.id, attempt: 1, outcome: 'complete' },
          { task_id: a.id, attempt: 1, outcome: 'fail' },
        ],
      });
      assert.equal(twice.statusCode, 422);
    });

    it('a submitted task goes to one parked worker; the other stays parked for the next', async () => {
      await registerWorker(t, W);
      await registerWorker(t, W2);
      const one = post(`/workers/${W}/claim?wait=20`);
      const two = post(`/workers/${W2}/claim?wait=20`);
      await new Promise((r) => setTimeout(r, 300));
      const first = await submitTask(t);
      const winner = json<Body>(await Promise.race([one, two]));
      assert.equal(winner.id, first.id);
      const second = await submitTask(t);
      const [a, b] = [json<Body>(await one), json<Body>(await two)];
      assert.deepEqual([a.id, b.id].sort(), [first.id, second.id].sort());
      assert.notEqual(a.worker_id, b.worker_id);
    });

    it('an empty claim for one kind of worker does not keep a task from a parked worker of another', async () => {
      await registerWorker(t, W, { backend_type: 'sandbox' });
      await registerWorker(t, W2, { backend_type: 'command' });
      const sandbox = post(`/workers/${W}/claim?wait=2`);
      await new Promise((r) => setTimeout(r, 100));
      const command = post(`/workers/${W2}/claim?wait=20`);
      await new Promise((r) => setTimeout(r, 300));
      const only = await submitTask(t, { problem_id: 'p-1', backend_type: 'command' });
      assert.equal(json<Body>(await command).id, only.id);
      assert.equal((await sandbox).body, 'null');
    });
  });
}
