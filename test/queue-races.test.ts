/**
 * Races. On PostgreSQL these run on many pooled connections at once, so the guarded
 * statements really interleave; on PGlite (one connection) they serialise in a random order
 * and must still leave every task in one consistent state.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Queue, QueueError, reapOnce, type Task } from '../src/queue/index.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, newTask, openQueue, rawRow, shuffle } from './helpers/queue-fixtures.ts';

const count = async (queue: Queue, sql: string, params: unknown[] = []) =>
  (await queue.db.query<{ n: number }>(sql, params)).rows[0]!.n;

for (const mode of dbModes()) {
  describe(`races (${mode})`, () => {
    it('complete vs reap on expired leases: each task is completed or reaped, never both', async (t) => {
      const { db, queue } = await openQueue(t, mode, { poolSize: 20 });
      const ROUNDS = 8;
      const PER_ROUND = 100;
      await addWorker(queue, 'w1', { max_parallel: PER_ROUND });
      let completedTotal = 0;
      let reapedTotal = 0;
      const completedRows = new Map<string, Record<string, unknown>>();

      for (let round = 0; round < ROUNDS; round++) {
        // Even tasks have a second attempt (reaper requeues), odd ones do not (reaper fails them).
        await queue.submit(
          Array.from({ length: PER_ROUND }, (_, i) =>
            newTask({ problem_id: `r${round}-${i}`, max_attempts: 1 + (i % 2) }),
          ),
        );
        const claimed = await queue.claim('w1', PER_ROUND);
        assert.equal(claimed.length, PER_ROUND);
        await db.query(
          `UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE status = 'running'`,
        );

        // Completions in random order, with two reaper passes dropped in at random points.
        type Outcome = { task: Task; ok: true; row: Task } | { task: Task; ok: false; code: string };
        const jobs: Array<() => Promise<unknown>> = shuffle(claimed).map(
          (task) => () =>
            queue.complete('w1', task.id, task.attempt, { round, id: task.id }).then(
              (row): Outcome => ({ task, ok: true, row }),
              (err: unknown): Outcome => {
                assert.ok(err instanceof QueueError, String(err));
                return { task, ok: false, code: err.code };
              },
            ),
        );
        const reaps: Array<Promise<unknown>> = [];
        for (let k = 0; k < 2; k++) {
          const at = 10 + Math.floor(Math.random() * (PER_ROUND - 20));
          jobs.splice(at, 0, () => {
            const p = reapOnce(queue, 3600);
            reaps.push(p);
            return p;
          });
        }
        const settled = await Promise.all(jobs.map((job) => job()));
        const outcomes = settled.filter(
          (x): x is Outcome => typeof x === 'object' && x !== null && 'ok' in x,
        );
        // Whatever the interleaving, a final pass reaps what no completion claimed.
        const final = await reapOnce(queue, 3600);
        const passes = [
          ...((await Promise.all(reaps)) as Array<Awaited<ReturnType<typeof reapOnce>>>),
          final,
        ];
        const reapedTerminal = new Set(passes.flatMap((p) => p?.terminal ?? []));
        const reapedCount = passes.reduce((n, p) => n + (p ? p.requeued + p.failed : 0), 0);

        assert.equal(outcomes.length, PER_ROUND);
        let lost = 0;
        for (const o of outcomes) {
          const now = await queue.mustGetTask(o.task.id);
          if (o.ok) {
            assert.equal(now.status, 'completed', `${o.task.id}: completion accepted`);
            assert.deepEqual(now.result, { round, id: o.task.id });
            assert.ok(!reapedTerminal.has(o.task.id), 'a completed task is never reaped');
            assert.deepEqual(now, o.row);
            completedRows.set(o.task.id, await rawRow(db, o.task.id));
            completedTotal++;
          } else {
            lost++;
            reapedTotal++;
            assert.equal(now.result, null);
            if (o.task.max_attempts === 2) {
              assert.equal(o.code, 'TASK_NOT_RUNNING');
              assert.equal(now.status, 'pending', `${o.task.id}: requeued`);
              assert.equal(now.attempt, 1);
            } else {
              assert.equal(o.code, 'TASK_ALREADY_TERMINAL');
              assert.equal(now.status, 'failed');
              assert.equal((now.error_info as { reason: string }).reason, 'worker lost');
              assert.ok(reapedTerminal.has(o.task.id));
            }
          }
        }
        assert.equal(reapedCount, lost, 'the reaper counted exactly the tasks whose completion lost');
        assert.equal(await count(queue, `SELECT count(*)::int AS n FROM tasks WHERE status = 'running'`), 0);
        // Clear the requeued ones so the next round's claim takes only fresh tasks.
        await db.query(
          `UPDATE tasks SET status = 'cancelled', completed_at = now() WHERE status = 'pending'`,
        );
      }
      // Both sides of the race were exercised.
      assert.ok(completedTotal > 0, 'some completions won');
      assert.ok(reapedTotal > 0, 'some reaps won');
      // Later passes never touch a completed task.
      await db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 hour', deadline_at = now() - interval '1 hour'
        WHERE status = 'completed'`);
      for (const id of completedRows.keys()) completedRows.set(id, await rawRow(db, id));
      await reapOnce(queue, 3600);
      for (const [id, row] of completedRows) assert.deepEqual(await rawRow(db, id), row);
    });

    it('heartbeat vs reap on expired leases: a lease reported extended is never requeued', async (t) => {
      const { db, queue } = await openQueue(t, mode, { poolSize: 20 });
      const N = 200;
      await addWorker(queue, 'w1', { max_parallel: N });
      await queue.submit(Array.from({ length: N }, () => newTask({ max_attempts: 2 })));
      const claimed = await queue.claim('w1', N);
      await db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 second'`);

      const extended = new Set<string>();
      const lost = new Set<string>();
      // Ten lanes heartbeat one task each at a time; reaper passes start once a random number
      // of heartbeats are done, so some leases are extended before, some race it, some come after.
      const todo = shuffle(claimed);
      const reapAt = new Set([
        N / 4 + Math.floor(Math.random() * (N / 4)),
        N / 2 + Math.floor(Math.random() * (N / 4)),
      ]);
      const reaps: Array<Promise<unknown>> = [];
      let done = 0;
      const lane = async () => {
        for (let task = todo.pop(); task; task = todo.pop()) {
          const hb = await queue.heartbeat('w1', undefined, [{ task_id: task.id, attempt: task.attempt }]);
          for (const e of hb.extended) extended.add(e.task_id);
          for (const id of hb.lost) lost.add(id);
          if (reapAt.has(++done)) reaps.push(reapOnce(queue, 3600));
        }
      };
      await Promise.all(Array.from({ length: 10 }, lane));
      await Promise.all(reaps);
      await reapOnce(queue, 3600);

      assert.equal(extended.size + lost.size, N);
      for (const task of claimed) {
        const now = await queue.mustGetTask(task.id);
        if (extended.has(task.id)) {
          assert.ok(!lost.has(task.id));
          assert.equal(now.status, 'running', 'an extended lease was not reaped');
          assert.equal(now.worker_id, 'w1');
        } else {
          assert.equal(now.status, 'pending', 'a lease reported lost was requeued');
        }
      }
      assert.ok(
        extended.size > 0 && lost.size > 0,
        `both sides of the race won sometimes: ${extended.size} extended, ${lost.size} lost`,
      );
    });

    it('many workers claiming at once: every task completed exactly once, on its first attempt', async (t) => {
      const { queue } = await openQueue(t, mode, { poolSize: 20 });
      const TASKS = 2000;
      const WORKERS = 20;
      const PARALLEL = 50;
      await queue.submit(
        Array.from({ length: TASKS }, (_, i) => newTask({ problem_id: `p-${i}`, priority: i % 11 })),
      );
      const workers = Array.from({ length: WORKERS }, (_, i) => `w${i}`);
      for (const w of workers) await addWorker(queue, w, { max_parallel: PARALLEL });

      const handedOut: string[] = [];
      let overParallel = 0;
      let refused = 0;
      await Promise.all(
        workers.map(async (w) => {
          for (;;) {
            const got = await queue.claim(w, PARALLEL);
            if (got.length === 0) return;
            if (got.length > PARALLEL) overParallel++;
            for (const task of got) {
              assert.equal(task.worker_id, w);
              assert.equal(task.status, 'running');
              handedOut.push(task.id);
            }
            const done = await Promise.allSettled(
              got.map((x) => queue.complete(w, x.id, x.attempt, { by: w })),
            );
            refused += done.filter((d) => d.status === 'rejected').length;
          }
        }),
      );
      assert.equal(overParallel, 0);
      assert.equal(refused, 0, 'every holder could complete what it claimed');
      assert.equal(handedOut.length, TASKS, 'as many hand-outs as tasks');
      assert.equal(new Set(handedOut).size, TASKS, 'no task handed out twice');
      assert.equal(
        await count(queue, `SELECT count(*)::int AS n FROM tasks WHERE status = 'completed' AND attempt = 1`),
        TASKS,
      );
      const perWorker = await queue.db.query<{ worker_id: string; n: number }>(
        `SELECT worker_id, count(*)::int AS n FROM tasks GROUP BY worker_id`,
      );
      assert.equal(
        perWorker.rows.reduce((n, r) => n + r.n, 0),
        TASKS,
      );
    });

    it('concurrent claims by one worker never exceed its max_parallel_tasks', async (t) => {
      const { queue } = await openQueue(t, mode, { poolSize: 20 });
      const MAX = 5;
      await addWorker(queue, 'w1', { max_parallel: MAX });
      await queue.submit(Array.from({ length: 1000 }, () => newTask()));
      const running = () =>
        count(queue, `SELECT count(*)::int AS n FROM tasks WHERE status = 'running' AND worker_id = 'w1'`);
      for (let round = 0; round < 10; round++) {
        const got = (
          await Promise.all(Array.from({ length: 20 }, (_, i) => queue.claim('w1', i % 2 ? MAX : 1)))
        ).flat();
        const held = await running();
        assert.ok(
          got.length <= MAX && held <= MAX,
          `round ${round}: max_parallel_tasks=${MAX} but ${got.length} claimed at once, ${held} running`,
        );
        assert.equal(got.length, MAX, `round ${round}: the free slots are filled`);
        await queue.completeMany(
          got.map((x) => ({ task_id: x.id, worker_id: 'w1', attempt: x.attempt, result: null })),
        );
      }
    });

    it('cancel vs claim: a task cancelled at once was never handed out, a claimed one only gets a request', async (t) => {
      const { queue } = await openQueue(t, mode, { poolSize: 20 });
      const N = 300;
      const created = await queue.submit(Array.from({ length: N }, () => newTask()));
      const workers = ['w1', 'w2', 'w3', 'w4'];
      for (const w of workers) await addWorker(queue, w, { max_parallel: N });

      const claimedBy = new Map<string, string>();
      const cancels = new Map<string, 'cancelled' | 'cancel_requested'>();
      const jobs: Array<() => Promise<void>> = [
        ...created.map((c) => async () => {
          cancels.set(c.task.id, (await queue.cancel(c.task.id)).outcome);
        }),
        ...workers.flatMap((w) =>
          Array.from({ length: 5 }, () => async () => {
            for (const task of await queue.claim(w, 20)) {
              assert.ok(!claimedBy.has(task.id), 'claimed twice');
              claimedBy.set(task.id, w);
            }
          }),
        ),
      ];
      await Promise.all(shuffle(jobs).map((job) => job()));

      assert.equal(cancels.size, N);
      for (const { task } of created) {
        const now = await queue.mustGetTask(task.id);
        const outcome = cancels.get(task.id);
        if (claimedBy.has(task.id)) {
          assert.equal(outcome, 'cancel_requested', 'a handed-out task was not cancelled under its worker');
          assert.equal(now.status, 'running');
          assert.equal(now.worker_id, claimedBy.get(task.id));
          assert.equal(now.cancel_requested, true);
        } else {
          assert.equal(outcome, 'cancelled');
          assert.equal(now.status, 'cancelled');
          assert.equal(now.worker_id, null);
          assert.equal(now.attempt, 0);
        }
      }
      assert.ok(claimedBy.size > 0 && claimedBy.size < N, 'both sides of the race won sometimes');
    });
  });
}
