/**
 * The task state machine, one transition at a time: what each one does to the row, and the
 * guards that keep terminal states terminal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queryable } from '../src/db/types.ts';
import { reapOnce } from '../src/queue/index.ts';
import { dbModes } from './helpers/db.ts';
import {
  addWorker,
  claimOne,
  expireLease,
  openQueue,
  passDeadline,
  type QueueFixture,
  rawRow,
  rejectsWith,
  submitOne,
} from './helpers/queue-fixtures.ts';

const seconds = async (db: Queryable, id: string, col: 'lease_expires_at' | 'deadline_at') => {
  const { rows } = await db.query<{ s: number }>(
    `SELECT extract(epoch FROM ${col} - started_at)::float8 AS s FROM tasks WHERE id = $1`,
    [id],
  );
  return Number(rows[0]!.s);
};

for (const mode of dbModes()) {
  describe(`task transitions (${mode})`, () => {
    it('a claim moves a pending task to running, charges one attempt and sets lease and deadline', async (t) => {
      const { db, queue } = await openQueue(t, mode, { leaseSeconds: 60 });
      await addWorker(queue, 'w1');
      const submitted = await submitOne(queue, { parameters: { timeout_minutes: 7 } });
      assert.equal(submitted.status, 'pending');
      assert.equal(submitted.attempt, 0);
      assert.equal(submitted.worker_id, null);

      const claimed = await claimOne(queue, 'w1');
      assert.equal(claimed.id, submitted.id);
      assert.equal(claimed.status, 'running');
      assert.equal(claimed.worker_id, 'w1');
      assert.equal(claimed.attempt, 1);
      assert.ok(claimed.started_at);
      assert.ok(claimed.lease_expires_at);
      assert.ok(claimed.deadline_at);
      assert.equal(await seconds(db, claimed.id, 'lease_expires_at'), 60);
      assert.equal(await seconds(db, claimed.id, 'deadline_at'), 7 * 60);
      assert.deepEqual(await queue.claim('w1', 1), [], 'a running task is not handed out again');
    });

    it('a fractional timeout_minutes sets a fractional deadline and never blocks the queue', async (t) => {
      // timeout_minutes is a number in TaskParameters; the API only accepts integers, but a row
      // the claim cannot process would sit at the head of the queue and fail every claim.
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 2 });
      await submitOne(queue, { problem_id: 'odd', parameters: { timeout_minutes: 1.5 } });
      await submitOne(queue, { problem_id: 'behind' });
      const [odd, behind] = await queue.claim('w1', 2);
      assert.equal(odd?.problem_id, 'odd');
      assert.equal(behind?.problem_id, 'behind');
      assert.equal(await seconds(db, odd.id, 'deadline_at'), 90);
    });

    it('the holder completes a running task: completed, with its result, lease ended', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue);
      const task = await claimOne(queue, 'w1');
      const terminal: string[][] = [];
      queue.events.on('terminal', (ids) => terminal.push(ids));

      const done = await queue.complete('w1', task.id, task.attempt, { success: true, score: 0.75 });
      assert.equal(done.status, 'completed');
      assert.deepEqual(done.result, { success: true, score: 0.75 });
      assert.ok(done.completed_at);
      assert.equal(done.lease_expires_at, null);
      assert.equal(done.worker_id, 'w1');
      assert.equal(done.attempt, 1);
      assert.deepEqual(terminal, [[task.id]]);
      assert.deepEqual(await queue.getTask(task.id), done);
    });

    it('the holder fails a running task: failed, with its error details', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 3 });
      const task = await claimOne(queue, 'w1');
      const failed = await queue.fail('w1', task.id, task.attempt, { reason: 'crash', message: 'boom' });
      assert.equal(failed.status, 'failed', 'a plain failure is final even with attempts left');
      assert.deepEqual(failed.error_info, { reason: 'crash', message: 'boom' });
      assert.ok(failed.completed_at);
      assert.equal(failed.lease_expires_at, null);
    });

    it('a retryable failure requeues the task while attempts remain, then fails it', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 2 });

      const first = await claimOne(queue, 'w1');
      const requeued = await queue.fail('w1', first.id, first.attempt, { reason: 'flaky' }, true);
      assert.equal(requeued.status, 'pending');
      assert.equal(requeued.worker_id, null);
      assert.equal(requeued.attempt, 1);
      assert.equal(requeued.lease_expires_at, null);
      assert.equal(requeued.deadline_at, null);
      assert.equal(requeued.completed_at, null);
      assert.deepEqual(requeued.error_info, { reason: 'flaky' });

      const second = await claimOne(queue, 'w1');
      assert.equal(second.attempt, 2);
      const failed = await queue.fail('w1', second.id, second.attempt, { reason: 'flaky again' }, true);
      assert.equal(failed.status, 'failed', 'no attempt left: the retry becomes a failure');
      assert.deepEqual(failed.error_info, { reason: 'flaky again' });
      assert.deepEqual(await queue.claim('w1', 1), []);
    });

    it('a retryable failure of a task with a single attempt ends it failed', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 1 });
      const task = await claimOne(queue, 'w1');
      const failed = await queue.fail('w1', task.id, task.attempt, { reason: 'flaky' }, true);
      assert.equal(failed.status, 'failed');
    });

    it('release gives a task back without charging its attempt: a one-attempt task runs again', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await addWorker(queue, 'w2');
      await submitOne(queue, { max_attempts: 1 });

      const first = await claimOne(queue, 'w1');
      const released = await queue.release('w1', first.id, first.attempt);
      assert.equal(released.status, 'pending');
      assert.equal(released.worker_id, null);
      assert.equal(released.lease_expires_at, null);
      assert.equal(released.attempt, 1, 'the fencing token never goes back');

      const again = await claimOne(queue, 'w2');
      assert.equal(again.attempt, 2);
      const done = await queue.complete('w2', again.id, again.attempt, { ok: true });
      assert.equal(done.status, 'completed');
    });

    it('a released task keeps only its real attempts: losing the re-claimed lease still fails it', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 1 });
      const first = await claimOne(queue, 'w1');
      await queue.release('w1', first.id, first.attempt);
      const second = await claimOne(queue, 'w1');
      await expireLease(db, second.id);
      const reaped = await reapOnce(queue, 3600);
      assert.equal(reaped?.failed, 1);
      assert.equal(reaped?.requeued, 0);
      const task = await queue.mustGetTask(second.id);
      assert.equal(task.status, 'failed');
      assert.equal((task.error_info as { reason: string }).reason, 'worker lost');
    });

    it('cancelling a pending task cancels it at once and it is never claimed', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      const task = await submitOne(queue);
      const terminal: string[][] = [];
      queue.events.on('terminal', (ids) => terminal.push(ids));

      const { outcome, task: cancelled } = await queue.cancel(task.id);
      assert.equal(outcome, 'cancelled');
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(cancelled.cancel_requested, true);
      assert.ok(cancelled.completed_at);
      assert.deepEqual(terminal, [[task.id]]);
      assert.deepEqual(await queue.claim('w1', 1), []);
    });

    it('cancelling a running task records the request and the holder hears it on heartbeat', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue);
      const task = await claimOne(queue, 'w1');
      const heard: string[] = [];
      queue.notifier.onCancel((id) => heard.push(id));

      const { outcome, task: after } = await queue.cancel(task.id);
      assert.equal(outcome, 'cancel_requested');
      assert.equal(after.status, 'running');
      assert.equal(after.worker_id, 'w1');
      assert.equal(after.cancel_requested, true);
      assert.deepEqual(heard, [task.id]);

      const again = await queue.cancel(task.id);
      assert.equal(again.outcome, 'cancel_requested');
      assert.equal(
        again.task.cancel_requested_at,
        after.cancel_requested_at,
        'the first request time is kept',
      );

      const hb = await queue.heartbeat('w1', undefined, [{ task_id: task.id, attempt: task.attempt }]);
      assert.deepEqual(hb.cancel_requested, [task.id]);
      assert.deepEqual(hb.lost, []);
    });

    it('a cancel-requested task failed by its holder ends cancelled', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue);
      const task = await claimOne(queue, 'w1');
      await queue.cancel(task.id);
      const ended = await queue.fail('w1', task.id, task.attempt, { reason: 'cancelled' });
      assert.equal(ended.status, 'cancelled');
    });

    it('a cancel-requested task is not retried: a retryable failure ends it cancelled', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 5 });
      const task = await claimOne(queue, 'w1');
      await queue.cancel(task.id);
      const ended = await queue.fail('w1', task.id, task.attempt, { reason: 'flaky' }, true);
      assert.equal(ended.status, 'cancelled');
    });

    it('a cancel-requested task completed by its holder ends cancelled, keeping the result', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue);
      const task = await claimOne(queue, 'w1');
      await queue.cancel(task.id);
      const done = await queue.complete('w1', task.id, task.attempt, { ok: true });
      assert.equal(done.status, 'cancelled');
      assert.deepEqual(done.result, { ok: true });
      assert.equal((done.error_info as { reason: string }).reason, 'cancelled');
      assert.match(done.error_details ?? '', /cancel was requested before worker w1 reported completion/);
      // The batched path of in-process workers is the same statement.
      await submitOne(queue);
      const next = await claimOne(queue, 'w1');
      await queue.cancel(next.id);
      const ok = await queue.completeMany([
        { task_id: next.id, worker_id: 'w1', attempt: next.attempt, result: 2 },
      ]);
      assert.deepEqual([...ok], [next.id]);
      const after = await queue.mustGetTask(next.id);
      assert.equal(after.status, 'cancelled');
      assert.equal(after.result, 2);
    });

    it('a cancel-requested task released by a stopping worker ends cancelled, not requeued', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 3 });
      const task = await claimOne(queue, 'w1');
      await queue.cancel(task.id);
      const ended = await queue.release('w1', task.id, task.attempt);
      assert.equal(ended.status, 'cancelled');
      assert.deepEqual(await queue.claim('w1', 1), []);
    });

    it('a task released past its deadline ends timeout instead of going back with a fresh deadline', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 3 });
      const task = await claimOne(queue, 'w1');
      await passDeadline(db, task.id);
      const ended = await queue.release('w1', task.id, task.attempt);
      assert.equal(ended.status, 'timeout');
      assert.equal((ended.error_info as { reason: string }).reason, 'timeout');
      assert.deepEqual(await queue.claim('w1', 1), []);
    });

    it('a cancel-requested task whose lease expires is ended cancelled by the reaper', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 3 });
      const task = await claimOne(queue, 'w1');
      await queue.cancel(task.id);
      await expireLease(db, task.id);
      const reaped = await reapOnce(queue, 3600);
      assert.deepEqual(
        { cancelled: reaped?.cancelled, requeued: reaped?.requeued, terminal: reaped?.terminal },
        { cancelled: 1, requeued: 0, terminal: [task.id] },
      );
      assert.equal((await queue.mustGetTask(task.id)).status, 'cancelled');
      await rejectsWith(queue.complete('w1', task.id, task.attempt, null), 'TASK_ALREADY_TERMINAL');
    });

    it('cancelling an unknown task is refused with TASK_NOT_FOUND', async (t) => {
      const { queue } = await openQueue(t, mode);
      await rejectsWith(queue.cancel(crypto.randomUUID()), 'TASK_NOT_FOUND');
    });

    it('a heartbeat extends the lease of the tasks the worker holds', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 2 });
      await submitOne(queue);
      await submitOne(queue);
      const [a, b] = await queue.claim('w1', 2);
      await expireLease(db, a!.id);
      await expireLease(db, b!.id);

      const hb = await queue.heartbeat('w1', undefined, [{ task_id: a!.id, attempt: a!.attempt }]);
      assert.deepEqual(hb.extended, [{ task_id: a!.id, attempt: 1 }]);
      const live = await db.query<{ id: string }>(`SELECT id FROM tasks WHERE lease_expires_at > now()`);
      assert.deepEqual(
        live.rows.map((r) => r.id),
        [a!.id],
      );

      const all = await queue.heartbeat('w1', undefined, null);
      assert.deepEqual(all.extended.map((e) => e.task_id).sort(), [a!.id, b!.id].sort());
      const reaped = await reapOnce(queue, 3600);
      assert.equal(reaped?.requeued, 0);
    });

    it('every transition writes updated_at', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 10 });
      const old = '2000-01-01T00:00:00.000Z';
      const age = async (id: string) =>
        db.query(`UPDATE tasks SET updated_at = $2::timestamptz WHERE id = $1`, [id, old]);
      const fresh = async (id: string, step: string) =>
        assert.notEqual((await queue.mustGetTask(id)).updated_at, old, `${step} left updated_at alone`);

      const a = await submitOne(queue, { max_attempts: 3 });
      await age(a.id);
      const ca = await claimOne(queue, 'w1');
      await fresh(a.id, 'claim');
      await age(a.id);
      await queue.fail('w1', a.id, ca.attempt, { r: 1 }, true);
      await fresh(a.id, 'retry');
      const ca2 = await claimOne(queue, 'w1');
      await age(a.id);
      await queue.release('w1', a.id, ca2.attempt);
      await fresh(a.id, 'release');
      const ca3 = await claimOne(queue, 'w1');
      await age(a.id);
      await queue.cancel(a.id);
      await fresh(a.id, 'cancel request');
      await age(a.id);
      await queue.complete('w1', a.id, ca3.attempt, null);
      await fresh(a.id, 'complete');

      const b = await submitOne(queue);
      await age(b.id);
      await queue.cancel(b.id);
      await fresh(b.id, 'cancel pending');

      const c = await submitOne(queue);
      const cc = await claimOne(queue, 'w1');
      await age(c.id);
      await queue.fail('w1', c.id, cc.attempt, { r: 2 });
      await fresh(c.id, 'fail');

      for (const [label, setup] of [
        ['reaper timeout', passDeadline],
        ['reaper requeue', expireLease],
      ] as const) {
        const d = await submitOne(queue, { max_attempts: 2 });
        await claimOne(queue, 'w1');
        await setup(db, d.id);
        await age(d.id);
        await reapOnce(queue, 3600);
        await fresh(d.id, label);
        // A requeued task would be claimed first below; take it out of the way.
        if ((await queue.mustGetTask(d.id)).status === 'pending') await queue.cancel(d.id);
      }
      const e = await submitOne(queue);
      await claimOne(queue, 'w1');
      await expireLease(db, e.id);
      await age(e.id);
      await reapOnce(queue, 3600);
      await fresh(e.id, 'reaper fail');
    });
  });

  describe(`terminal states never change (${mode})`, () => {
    // Each case drives a fresh task to one terminal state through the real transitions.
    const cases = {
      completed: async (q: QueueFixture) => {
        const t = await claimOne(q.queue, 'w1');
        await q.queue.complete('w1', t.id, t.attempt, { ok: true });
        return t;
      },
      failed: async (q: QueueFixture) => {
        const t = await claimOne(q.queue, 'w1');
        await q.queue.fail('w1', t.id, t.attempt, { reason: 'x' });
        return t;
      },
      timeout: async (q: QueueFixture) => {
        const t = await claimOne(q.queue, 'w1');
        await passDeadline(q.db, t.id);
        await reapOnce(q.queue, 3600);
        return t;
      },
      'cancelled while running': async (q: QueueFixture) => {
        const t = await claimOne(q.queue, 'w1');
        await q.queue.cancel(t.id);
        await q.queue.fail('w1', t.id, t.attempt, { reason: 'cancelled' });
        return t;
      },
      'cancelled while pending': async (q: QueueFixture) => {
        const [t] = (await q.queue.listTasks({ limit: 1, offset: 0 })).tasks;
        await q.queue.cancel(t!.id);
        return { ...t!, attempt: 1 };
      },
    };

    for (const [state, drive] of Object.entries(cases)) {
      it(`a ${state} task refuses complete, fail, retry, release, cancel, logs and reaping, unchanged`, async (t) => {
        const f = await openQueue(t, mode);
        const { db, queue } = f;
        await addWorker(queue, 'w1');
        await addWorker(queue, 'w2');
        await submitOne(queue, { max_attempts: 3, parameters: { callback_url: 'http://127.0.0.1:9/cb' } });
        const task = await drive(f);
        const status = (await queue.mustGetTask(task.id)).status;
        assert.equal(status, state.split(' ')[0]);
        // Make it look expired and overdue too: the reaper must still leave it alone.
        await db.query(
          `UPDATE tasks SET lease_expires_at = now() - interval '1 hour', deadline_at = now() - interval '1 hour'
           WHERE id = $1`,
          [task.id],
        );
        const before = await rawRow(db, task.id);
        const countLogs = async () =>
          (
            await db.query<{ n: number }>('SELECT count(*)::int AS n FROM task_logs WHERE task_id = $1', [
              task.id,
            ])
          ).rows[0]!.n;
        const logsBefore = await countLogs();

        for (const w of ['w1', 'w2']) {
          await rejectsWith(
            queue.complete(w, task.id, task.attempt, { late: true }),
            'TASK_ALREADY_TERMINAL',
          );
          await rejectsWith(queue.complete(w, task.id, null, { late: true }), 'TASK_ALREADY_TERMINAL');
          await rejectsWith(queue.fail(w, task.id, task.attempt, { late: true }), 'TASK_ALREADY_TERMINAL');
          await rejectsWith(
            queue.fail(w, task.id, task.attempt, { late: true }, true),
            'TASK_ALREADY_TERMINAL',
          );
          await rejectsWith(queue.release(w, task.id, task.attempt), 'TASK_ALREADY_TERMINAL');
          await rejectsWith(
            queue.appendLogs(w, task.id, task.attempt, [{ level: 'info', message: 'late' }]),
            'TASK_ALREADY_TERMINAL',
          );
        }
        await rejectsWith(queue.cancel(task.id), 'TASK_ALREADY_TERMINAL');
        assert.equal(
          (await queue.completeMany([{ task_id: task.id, worker_id: 'w1', attempt: null, result: 1 }])).size,
          0,
        );
        const reaped = await reapOnce(queue, 3600);
        assert.deepEqual(reaped?.terminal, []);
        assert.deepEqual(await queue.claim('w2', 1), []);
        const hb = await queue.heartbeat('w1', undefined, [{ task_id: task.id, attempt: task.attempt }]);
        assert.deepEqual(hb.lost, [task.id]);

        assert.deepEqual(await rawRow(db, task.id), before);
        // Nothing refused wrote a log line, not even the server's own.
        assert.equal(await countLogs(), logsBefore);
      });
    }
  });
}
