/**
 * The counter tables (migration 0007) against a recount of the tasks table: whatever path
 * changes a task — submit, claim, report, retry, release, cancel, the reaper, a delete, an
 * operator's SQL, a migration over existing rows — the figures health, metrics and stats show
 * equal what a full scan would say. On PostgreSQL also under concurrent writers on many
 * connections (striped rows, no deadlock).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { migrate } from '../src/db/index.ts';
import { listMigrations } from '../src/db/migrate.ts';
import type { Queryable } from '../src/db/types.ts';
import { createQueue, type Queue, reapOnce } from '../src/queue/index.ts';
import { createTestDb, dbModes } from './helpers/db.ts';
import {
  addWorker,
  claimOne,
  expireLease,
  newTask,
  openQueue,
  passDeadline,
  submitOne,
} from './helpers/queue-fixtures.ts';

type Tally = Record<string, number>;

/** What a full scan says, keyed like the counters. */
async function recount(db: Queryable) {
  const byKey = async (sql: string): Promise<Tally> => {
    const { rows } = await db.query<{ k: string; n: number }>(sql);
    return Object.fromEntries(rows.filter((r) => Number(r.n) !== 0).map((r) => [r.k, Number(r.n)]));
  };
  return {
    tasks: await byKey(
      `SELECT problem_id || '/' || COALESCE(backend_type, '') || '/' || status AS k, count(*)::int AS n
       FROM tasks GROUP BY 1`,
    ),
    workers: await byKey(
      `SELECT worker_id || '/' || status AS k, count(*)::int AS n FROM tasks
       WHERE worker_id IS NOT NULL AND status IN ('completed', 'failed', 'timeout', 'cancelled') GROUP BY 1`,
    ),
  };
}

/** What the counter tables say, summed over stripes. */
async function counted(db: Queryable) {
  const byKey = async (sql: string): Promise<Tally> => {
    const { rows } = await db.query<{ k: string; n: number }>(sql);
    return Object.fromEntries(rows.filter((r) => Number(r.n) !== 0).map((r) => [r.k, Number(r.n)]));
  };
  return {
    tasks: await byKey(
      `SELECT problem_id || '/' || backend_type || '/' || status AS k, sum(n)::int AS n FROM task_counts GROUP BY 1`,
    ),
    workers: await byKey(
      `SELECT worker_id || '/' || status AS k, sum(n)::int AS n FROM worker_task_counts GROUP BY 1`,
    ),
  };
}

async function assertCountersMatch(db: Queryable, when: string) {
  assert.deepEqual(await counted(db), await recount(db), `counters drifted from the rows ${when}`);
}

/** Every path a task can take, once each. */
async function everyTransition(queue: Queue, db: Queryable) {
  await addWorker(queue, 'w1', { max_parallel: 20 });
  await addWorker(queue, 'w2', { backend_type: 'command', max_parallel: 20 });
  await queue.submit([
    newTask({ problem_id: 'a' }),
    newTask({ problem_id: 'a' }),
    newTask({ problem_id: 'b', backend_type: 'command' }),
    newTask({ problem_id: 'b', max_attempts: 2 }),
    newTask({ problem_id: 'c' }),
    newTask({ problem_id: 'c', parameters: { timeout_minutes: 1 } }),
    newTask({ problem_id: 'd', max_attempts: 1 }),
  ]);
  const cancelledPending = await submitOne(queue, { problem_id: 'e' });
  await queue.cancel(cancelledPending.id);
  const [a1, a2, b2, c1, c2, d1] = await queue.claim('w1', 6);
  const [b1] = await queue.claim('w2', 1);
  await queue.complete('w1', a1!.id, null, { ok: true });
  await queue.completeMany([{ task_id: a2!.id, worker_id: 'w1', attempt: null, result: 1 }]);
  await queue.complete('w2', b1!.id, null, null);
  await queue.fail('w1', b2!.id, null, { message: 'retry me' }, true);
  await queue.release('w1', c1!.id, null);
  await queue.cancel(c2!.id);
  await queue.fail('w1', c2!.id, null, { message: 'stopped' });
  await passDeadline(db, d1!.id);
  await reapOnce(queue, 60);
  const again = await claimOne(queue, 'w1');
  await expireLease(db, again.id);
  await reapOnce(queue, 60);
}

for (const mode of dbModes()) {
  describe(`queue counters (${mode})`, () => {
    it('match a recount after every kind of transition, a delete and raw SQL', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await assertCountersMatch(db, 'on an empty database');
      await everyTransition(queue, db);
      await assertCountersMatch(db, 'after submit, claim, complete, fail, retry, release, cancel, reaper');
      const counts = await queue.statusCounts();
      const { rows } = await db.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM tasks GROUP BY status',
      );
      for (const r of rows) assert.equal(counts[r.status as keyof typeof counts], r.n, r.status);

      await db.query(`UPDATE tasks SET status = 'cancelled', completed_at = now() WHERE status = 'pending'`);
      await db.query(`DELETE FROM tasks WHERE problem_id = 'a'`);
      await db.query(`INSERT INTO tasks (problem_id, status, worker_id, started_at, completed_at)
                      VALUES ('f', 'completed', 'w9', now() - interval '5 seconds', now())`);
      await assertCountersMatch(db, 'after an operator’s UPDATE, DELETE and INSERT');
    });

    it('worker and problem figures come from the counters', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await everyTransition(queue, db);
      const w1 = await queue.mustGetWorker('w1');
      const scan = await db.query<{ completed: number; failed: number; running: number }>(
        `SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed,
                count(*) FILTER (WHERE status IN ('failed', 'timeout'))::int AS failed,
                count(*) FILTER (WHERE status = 'running')::int AS running
         FROM tasks WHERE worker_id = 'w1'`,
      );
      const s = scan.rows[0]!;
      assert.equal(w1.tasks_completed, s.completed);
      assert.equal(w1.tasks_failed, s.failed);
      assert.equal(w1.running_tasks, s.running);
      const stats = await queue.workerStats('w1', 'all');
      assert.equal(stats.tasks_completed, s.completed);
      assert.equal(stats.tasks_failed, s.failed);
      assert.equal(stats.tasks_running, s.running);

      const full = await queue.taskStats(true);
      const problems = await db.query<{ problem_id: string; n: number }>(
        'SELECT problem_id, count(*)::int AS n FROM tasks GROUP BY 1',
      );
      for (const p of problems.rows)
        assert.equal(full.by_problem.find((b) => b.problem_id === p.problem_id)?.total, p.n, p.problem_id);
      const perWorker = await db.query<{ worker_id: string; n: number }>(
        'SELECT worker_id, count(*)::int AS n FROM tasks WHERE worker_id IS NOT NULL GROUP BY 1',
      );
      for (const w of perWorker.rows) assert.equal(full.by_worker[w.worker_id], w.n, w.worker_id);

      const listed = await queue.listTasks({ status: 'completed', limit: 1, offset: 0 });
      const completed = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tasks WHERE status = 'completed'`,
      );
      assert.equal(listed.total, completed.rows[0]!.n, 'a status filter totals from the counters');
      const byWorker = await queue.listTasks({ worker_id: 'w2', limit: 1, offset: 0 });
      assert.equal(byWorker.total, 1, 'a worker filter counts the rows');
    });

    it('averages cover the window the response names; older activity counts only for all', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      const task = await submitOne(queue);
      await db.query(
        `UPDATE tasks SET created_at = now() - interval '30 seconds',
                        updated_at = now() - interval '30 seconds' WHERE id = $1`,
        [task.id],
      );
      await claimOne(queue, 'w1');
      await db.query(`UPDATE tasks SET started_at = now() - interval '10 seconds' WHERE id = $1`, [task.id]);
      await queue.complete('w1', task.id, null, null);

      const hour = await queue.taskStats(false, '1h');
      assert.equal(hour.window.window, '1h');
      assert.ok(hour.window.since, 'a bounded window says where it starts');
      assert.equal(hour.window.claims, 1);
      assert.equal(hour.window.completed, 1);
      assert.ok(Math.abs(hour.average_wait_seconds! - 30) < 5, `wait ${hour.average_wait_seconds}`);
      assert.ok(Math.abs(hour.average_execution_seconds! - 10) < 5, `run ${hour.average_execution_seconds}`);

      // The same activity two hours ago: outside 1h, inside 24h and all.
      await db.query(
        `UPDATE task_activity SET bucket = bucket - interval '2 hours' WHERE bucket > '-infinity'`,
      );
      await db.query(`UPDATE worker_activity SET bucket = bucket - interval '2 hours'`);
      const later = await queue.taskStats(false, '1h');
      assert.equal(later.window.completed, 0);
      assert.equal(later.average_execution_seconds, null);
      assert.equal((await queue.taskStats(false, '24h')).window.completed, 1);
      const all = await queue.taskStats(false, 'all');
      assert.equal(all.window.since, null);
      assert.equal(all.window.completed, 1);
      assert.equal(all.by_status.completed, 1, 'counts are current whatever the window');

      // A worker's window: its own minute buckets (moved back with the others above).
      assert.equal((await queue.workerStats('w1', '1h')).window.completed, 0);
      await db.query(`UPDATE worker_activity SET bucket = bucket + interval '2 hours'`);
      const worker = await queue.workerStats('w1', '1h');
      assert.equal(worker.window.completed, 1);
      assert.ok(Math.abs(worker.average_execution_seconds! - 10) < 5);
      assert.equal((await queue.workerStats('w1', 'all')).tasks_completed, 1);
    });

    it('migration 0007 counts the rows already there', async (t) => {
      const old = await createTestDb(
        mode,
        4,
        listMigrations().filter((m) => m.version <= 6),
      );
      t.after(() => old.drop());
      const queue = createQueue(old.db, { leaseSeconds: 60, notifyDebounceMs: 20 });
      // Written by the previous schema: no triggers yet.
      await old.db.query(`INSERT INTO workers (id, backend_type) VALUES ('w1', 'kind')`);
      await old.db.query(`INSERT INTO tasks (problem_id, status, worker_id, started_at, completed_at)
        SELECT 'p' || (g % 3), CASE WHEN g % 4 = 0 THEN 'failed' ELSE 'completed' END,
               CASE WHEN g % 2 = 0 THEN 'w1' END, now() - interval '1 minute', now()
        FROM generate_series(1, 40) g`);
      await old.db.query(`INSERT INTO tasks (problem_id) SELECT 'p9' FROM generate_series(1, 5)`);
      await migrate(old.db);
      await assertCountersMatch(old.db, 'after migrating a database that had rows');
      const all = await queue.taskStats(false, 'all');
      assert.equal(all.by_status.pending, 5);
      assert.equal(all.window.completed, 30);
      assert.equal((await queue.workerStats('w1', 'all')).tasks_total, 20);
      assert.equal(
        (await queue.taskStats(false, '1h')).window.completed,
        30,
        'recent endings fill the window',
      );
      assert.equal(
        (await queue.workerStats('w1', '1h')).window.completed +
          (await queue.workerStats('w1', '1h')).window.failed,
        20,
      );
    });
  });
}

if (process.env.TEST_DATABASE_URL) {
  describe('queue counters under concurrency (postgres)', () => {
    it('many connections claiming and completing at once: no deadlock, no drift', async (t) => {
      const { db, queue } = await openQueue(t, 'postgres', { poolSize: 16 });
      const workers = Array.from({ length: 12 }, (_, i) => `w${i}`);
      for (const w of workers) await addWorker(queue, w, { max_parallel: 4 });
      const problems = ['p1', 'p2'];
      await queue.submit(Array.from({ length: 600 }, (_, i) => newTask({ problem_id: problems[i % 2]! })));
      const run = async (w: string) => {
        for (;;) {
          const got = await queue.claim(w, 4);
          if (got.length === 0) return;
          await Promise.all(
            got.map((task, i) =>
              i % 3 === 0
                ? queue.fail(w, task.id, null, { message: 'x' })
                : queue.complete(w, task.id, null, { i }),
            ),
          );
        }
      };
      await Promise.all(workers.map(run));
      await assertCountersMatch(db, 'after 600 tasks run by 12 workers on 16 connections');
      const counts = await queue.statusCounts();
      assert.equal(counts.completed + counts.failed, 600);
      const stripes = await db.query<{ n: number }>(
        `SELECT count(DISTINCT stripe)::int AS n FROM task_counts WHERE status = 'completed'`,
      );
      assert.ok(stripes.rows[0]!.n > 1, 'concurrent writers spread over stripes');
    });
  });
}
