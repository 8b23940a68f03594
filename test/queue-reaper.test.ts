/**
 * The reaper: lost leases, deadlines, silent workers, and the advisory lock that lets only
 * one replica run a pass at a time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queryable } from '../src/db/types.ts';
import { type Queue, reapOnce } from '../src/queue/index.ts';
import { dbModes } from './helpers/db.ts';
import {
  addWorker,
  claimOne,
  expireLease,
  newTask,
  openQueue,
  passDeadline,
  rawRow,
  rejectsWith,
  sleep,
  submitOne,
} from './helpers/queue-fixtures.ts';

const HOUR = 3600;

for (const mode of dbModes()) {
  describe(`reaper (${mode})`, () => {
    it('a lost lease with attempts left sends the task back to pending, keeping its attempt', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 2 });
      const task = await claimOne(queue, 'w1');
      await expireLease(db, task.id);
      let woken = 0;
      queue.notifier.onWake(() => woken++);

      const reaped = await reapOnce(queue, HOUR);
      assert.deepEqual(reaped, {
        requeued: 1,
        failed: 0,
        cancelled: 0,
        timed_out: 0,
        workers_offline: 0,
        leases_honoured: 0,
        terminal: [],
      });
      assert.ok(woken > 0, 'claimers are woken for the requeued task');
      const after = await queue.mustGetTask(task.id);
      assert.equal(after.status, 'pending');
      assert.equal(after.attempt, 1);
      assert.equal(after.worker_id, null);
      assert.equal(after.lease_expires_at, null);
      assert.equal(after.deadline_at, null);
      assert.equal(after.completed_at, null);

      const again = await claimOne(queue, 'w1');
      assert.equal(again.attempt, 2);
    });

    it('a lost lease on the last attempt fails the task with reason "worker lost"', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 2 });
      const first = await claimOne(queue, 'w1');
      await expireLease(db, first.id);
      await reapOnce(queue, HOUR);
      const second = await claimOne(queue, 'w1');
      await expireLease(db, second.id);
      const terminal: string[][] = [];
      queue.events.on('terminal', (ids) => terminal.push(ids));

      const reaped = await reapOnce(queue, HOUR);
      assert.equal(reaped?.failed, 1);
      assert.equal(reaped?.requeued, 0);
      assert.deepEqual(reaped?.terminal, [second.id]);
      assert.deepEqual(terminal, [[second.id]]);
      const after = await queue.mustGetTask(second.id);
      assert.equal(after.status, 'failed');
      assert.equal(after.attempt, 2);
      assert.ok(after.completed_at);
      const details = after.error_info as { reason: string; message: string };
      assert.equal(details.reason, 'worker lost');
      assert.match(details.message, /w1/);
    });

    it('a lease that really runs out (1 s, no heartbeat) is reaped; a heartbeated one is not', async (t) => {
      const { db, queue } = await openQueue(t, mode, { leaseSeconds: 1 });
      await addWorker(queue, 'w1');
      await addWorker(queue, 'w2');
      await submitOne(queue, { max_attempts: 2 });
      await submitOne(queue, { max_attempts: 2 });
      const silent = await claimOne(queue, 'w1');
      const alive = await claimOne(queue, 'w2');
      await sleep(1500);
      // The live worker's heartbeat comes in (with a long lease) before the pass.
      await db.query(`UPDATE tasks SET lease_expires_at = now() + interval '1 hour' WHERE id = $1`, [
        alive.id,
      ]);

      const reaped = await reapOnce(queue, HOUR);
      assert.equal(reaped?.requeued, 1);
      assert.equal((await queue.mustGetTask(silent.id)).status, 'pending');
      assert.equal((await queue.mustGetTask(alive.id)).status, 'running');
    });

    it('a running task past its deadline ends timeout, even while its lease is live', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 3, parameters: { timeout_minutes: 5 } });
      const task = await claimOne(queue, 'w1');
      await passDeadline(db, task.id);
      const stopped: string[] = [];
      queue.notifier.onCancel((id) => stopped.push(id));
      const terminal: string[][] = [];
      queue.events.on('terminal', (ids) => terminal.push(ids));

      const reaped = await reapOnce(queue, HOUR);
      assert.equal(reaped?.timed_out, 1);
      assert.deepEqual(reaped?.terminal, [task.id]);
      assert.deepEqual(terminal, [[task.id]]);
      assert.deepEqual(stopped, [task.id], 'the holder is told to stop');
      const after = await queue.mustGetTask(task.id);
      assert.equal(after.status, 'timeout');
      assert.equal(after.lease_expires_at, null);
      const details = after.error_info as { reason: string; message: string };
      assert.equal(details.reason, 'timeout');
      assert.match(details.message, /5 minutes/);

      const hb = await queue.heartbeat('w1', undefined, [{ task_id: task.id, attempt: task.attempt }]);
      assert.deepEqual(hb.lost, [task.id]);
      await rejectsWith(queue.complete('w1', task.id, task.attempt, null), 'TASK_ALREADY_TERMINAL');
    });

    it('a task both past its deadline and with a lost lease ends timeout, not requeued', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { max_attempts: 3 });
      const task = await claimOne(queue, 'w1');
      await passDeadline(db, task.id);
      await expireLease(db, task.id);
      const reaped = await reapOnce(queue, HOUR);
      assert.equal(reaped?.timed_out, 1);
      assert.equal(reaped?.requeued, 0);
      assert.equal((await queue.mustGetTask(task.id)).status, 'timeout');
    });

    it('live leases and pending tasks are left alone', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue);
      const running = await claimOne(queue, 'w1');
      const pending = await submitOne(queue);
      // A pending task with stale lease/deadline values (never the case, but the guard must hold).
      await expireLease(db, pending.id);
      await passDeadline(db, pending.id);
      const before = [await rawRow(db, pending.id), await rawRow(db, running.id)];
      const reaped = await reapOnce(queue, HOUR);
      assert.deepEqual(reaped, {
        requeued: 0,
        failed: 0,
        cancelled: 0,
        timed_out: 0,
        workers_offline: 0,
        leases_honoured: 0,
        terminal: [],
      });
      assert.deepEqual([await rawRow(db, pending.id), await rawRow(db, running.id)], before);
    });

    it('one pass reaps more expired leases than fit in one batch', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 1200 });
      await queue.submit(
        Array.from({ length: 1200 }, (_, i) =>
          newTask({ problem_id: `p-${i}`, max_attempts: i % 2 ? 2 : 1 }),
        ),
      );
      assert.equal((await queue.claim('w1', 1200)).length, 1200);
      await db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 minute'`);
      const reaped = await reapOnce(queue, HOUR);
      assert.equal(reaped?.requeued, 600);
      assert.equal(reaped?.failed, 600);
      assert.equal(reaped?.terminal.length, 600);
      const running = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tasks WHERE status = 'running'`,
      );
      assert.equal(running.rows[0]!.n, 0);
    });

    it('workers that stopped heartbeating are marked offline; live ones are not', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'silent');
      await addWorker(queue, 'draining');
      await addWorker(queue, 'live');
      await queue.heartbeat('draining', 'draining', null);
      await db.query(
        `UPDATE workers SET last_heartbeat = now() - interval '10 minutes' WHERE id IN ('silent', 'draining')`,
      );
      const reaped = await reapOnce(queue, 60);
      assert.equal(reaped?.workers_offline, 2);
      assert.equal((await queue.mustGetWorker('silent')).status, 'offline');
      assert.equal((await queue.mustGetWorker('draining')).status, 'offline');
      assert.equal((await queue.mustGetWorker('live')).status, 'idle');
      assert.equal((await reapOnce(queue, 60))?.workers_offline, 0, 'offline workers are not counted again');
    });

    it('an offline worker that claims again is back online', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await db.query(`UPDATE workers SET last_heartbeat = now() - interval '10 minutes'`);
      await reapOnce(queue, 60);
      assert.equal((await queue.mustGetWorker('w1')).status, 'offline');
      await submitOne(queue);
      await claimOne(queue, 'w1');
      assert.equal((await queue.mustGetWorker('w1')).status, 'busy');
    });

    it('concurrent passes never reap a task twice', async (t) => {
      const { db, queue } = await openQueue(t, mode, { poolSize: 8 });
      await addWorker(queue, 'w1', { max_parallel: 300 });
      await queue.submit(Array.from({ length: 300 }, () => newTask({ max_attempts: 2 })));
      await queue.claim('w1', 300);
      await db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 minute'`);
      const passes = await Promise.all(Array.from({ length: 6 }, () => reapOnce(queue, HOUR)));
      const ran = passes.filter((p) => p !== null);
      assert.ok(ran.length >= 1);
      assert.equal(
        ran.reduce((n, p) => n + p.requeued, 0),
        300,
      );
      const pending = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tasks WHERE status = 'pending' AND attempt = 1`,
      );
      assert.equal(pending.rows[0]!.n, 300);
    });

    if (mode === 'postgres') {
      it('while one pass holds the reaper lock, another pass returns null and does nothing', async (t) => {
        const { db, queue } = await openQueue(t, mode);
        await addWorker(queue, 'w1');
        await submitOne(queue, { max_attempts: 2 });
        const task = await claimOne(queue, 'w1');
        await expireLease(db, task.id);

        // The first pass stops right after taking the advisory lock until the second has finished.
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        let locked!: () => void;
        const holding = new Promise<void>((r) => {
          locked = r;
        });
        const held: Queue = {
          ...queue,
          withTransaction: (fn) =>
            queue.withTransaction((q) =>
              fn({
                exec: (sql) => q.exec(sql),
                async query(sql, params) {
                  const r = await q.query(sql, params);
                  if (sql.includes('pg_try_advisory_xact_lock')) {
                    locked();
                    await gate;
                  }
                  return r as never;
                },
              } satisfies Queryable),
            ),
        };
        const first = reapOnce(held, HOUR);
        await holding;
        const second = await reapOnce(queue, HOUR);
        assert.equal(second, null);
        assert.equal((await queue.mustGetTask(task.id)).status, 'running');
        release();
        assert.equal((await first)?.requeued, 1);
        assert.equal((await queue.mustGetTask(task.id)).status, 'pending');
      });
    }

    it('after an outage (no pass for longer than a lease) honours running leases instead of reaping them', async (t) => {
      const { db, queue } = await openQueue(t, mode, { leaseSeconds: 60 });
      await addWorker(queue, 'w1');
      const task = await submitOne(queue, { max_attempts: 1 });
      await claimOne(queue, 'w1');
      await reapOnce(queue, HOUR);
      // Nobody could reach the database for ten minutes: the worker's heartbeats failed too.
      await db.query(`UPDATE reaper_state SET last_pass_at = now() - interval '10 minutes'`);
      await expireLease(db, task.id);
      const first = await reapOnce(queue, HOUR, { outageAfterSeconds: 60 });
      assert.equal(first?.leases_honoured, 1);
      assert.equal(first?.failed, 0, 'no "worker lost" for an outage');
      assert.equal((await queue.mustGetTask(task.id)).status, 'running');
      // The worker, back in touch, reports as usual and is accepted.
      const done = await queue.complete('w1', task.id, task.attempt + 1, { ok: true });
      assert.equal(done.status, 'completed');
    });

    it('without an outage, an expired lease is reaped as before', async (t) => {
      const { db, queue } = await openQueue(t, mode, { leaseSeconds: 60 });
      await addWorker(queue, 'w1');
      const task = await submitOne(queue, { max_attempts: 1 });
      await claimOne(queue, 'w1');
      await reapOnce(queue, HOUR);
      await expireLease(db, task.id);
      const again = await reapOnce(queue, HOUR, { outageAfterSeconds: 60 });
      assert.equal(again?.leases_honoured, 0);
      assert.equal(again?.failed, 1);
    });
  });
}
