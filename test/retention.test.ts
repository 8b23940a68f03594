/**
 * RETENTION_DAYS and the upkeep pass: finished tasks that ended before the cutoff go, with their
 * logs and LLM records, in batches; everything recent or unfinished stays; the counters follow.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queryable } from '../src/db/types.ts';
import { upkeepOnce } from '../src/server/upkeep-loop.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, newTask, openQueue } from './helpers/queue-fixtures.ts';

/** Ends the given tasks `daysAgo` days ago (created a minute before that). */
async function endedDaysAgo(db: Queryable, ids: string[], daysAgo: number, status = 'completed') {
  await db.query(
    `UPDATE tasks SET status = $3, worker_id = 'w1',
       created_at = now() - $2::int * interval '1 day' - interval '1 minute',
       started_at = now() - $2::int * interval '1 day' - interval '30 seconds',
       completed_at = now() - $2::int * interval '1 day'
     WHERE id = ANY($1::uuid[])`,
    [ids, daysAgo, status],
  );
}

/** Three log lines and a conversation with two messages and a call per task. */
async function addChildren(db: Queryable, ids: string[]) {
  for (const id of ids) {
    await db.query(
      `INSERT INTO task_logs (task_id, level, message) SELECT $1, 'info', 'line ' || g FROM generate_series(1, 3) g`,
      [id],
    );
    const conv = await db.query<{ id: string }>(
      `INSERT INTO llm_conversations (task_id, attempt, conversation_key) VALUES ($1, 1, 'default') RETURNING id`,
      [id],
    );
    const c = conv.rows[0]!.id;
    await db.query(
      `INSERT INTO llm_messages (conversation_id, seq, role, content) VALUES ($1, 1, 'user', '"hi"'), ($1, 2, 'assistant', '"yo"')`,
      [c],
    );
    await db.query(
      `INSERT INTO llm_calls (conversation_id, seq, upstream, model_requested, stream, request,
         prompt_message_count, prefix_consistent, end_reason, started_at)
       VALUES ($1, 1, 'fake', 'm', false, '{}', 1, true, 'complete', now())`,
      [c],
    );
  }
}

const countOf = async (db: Queryable, table: string) =>
  (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;

for (const mode of dbModes()) {
  describe(`retention (${mode})`, () => {
    it('deletes finished tasks past the cutoff with their logs and LLM records, in batches', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      const created = await queue.submit(
        Array.from({ length: 9 }, (_, i) => newTask({ problem_id: `p${i % 2}` })),
      );
      const ids = created.map((c) => c.task.id);
      const old = ids.slice(0, 5);
      const recent = ids.slice(5, 7);
      const oldButPending = ids[7]!;
      await endedDaysAgo(db, old.slice(0, 4), 40);
      await endedDaysAgo(db, old.slice(4), 40, 'failed');
      await endedDaysAgo(db, recent, 5);
      // Submitted long ago and still waiting: never deleted, whatever its age.
      await db.query(`UPDATE tasks SET created_at = now() - interval '60 days' WHERE id = $1`, [
        oldButPending,
      ]);
      await addChildren(db, ids);

      // Three lines each, plus the server's own entries (created, …).
      const oldLogs = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM task_logs WHERE task_id = ANY($1::uuid[])',
        [old],
      );
      const keptLogs = (await countOf(db, 'task_logs')) - oldLogs.rows[0]!.n;
      const before = await queue.statusCounts();
      const r = await upkeepOnce(db, { retentionDays: 30, taskBatch: 2, childBatch: 2, pauseMs: 0 });
      assert.deepEqual(
        { tasks: r.tasks, logs: r.logs, llm_messages: r.llm_messages, llm_calls: r.llm_calls },
        { tasks: 5, logs: oldLogs.rows[0]!.n, llm_messages: 10, llm_calls: 5 },
      );
      const left = await db.query<{ id: string }>('SELECT id FROM tasks ORDER BY seq');
      assert.deepEqual(
        left.rows.map((x) => x.id),
        ids.slice(5),
        'the recent, the pending and the unclaimed stay',
      );
      assert.ok(oldLogs.rows[0]!.n >= 15);
      assert.equal(await countOf(db, 'task_logs'), keptLogs);
      assert.equal(await countOf(db, 'llm_conversations'), 4);
      assert.equal(await countOf(db, 'llm_messages'), 4 * 2);

      const after = await queue.statusCounts();
      assert.equal(after.completed, before.completed - 4);
      assert.equal(after.failed, before.failed - 1);
      assert.equal((await queue.workerStats('w1', 'all')).tasks_completed, 2, 'worker counts follow');

      const again = await upkeepOnce(db, { retentionDays: 30, pauseMs: 0 });
      assert.equal(again.tasks, 0, 'a second pass finds nothing');
    });

    it('prunes feed events past the cutoff, oldest first, and keeps the rest', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await queue.submit(Array.from({ length: 6 }, () => newTask()));
      const events = await db.query<{ id: string }>('SELECT id::text AS id FROM feed_events ORDER BY id');
      assert.equal(events.rows.length, 6);
      const old = events.rows.slice(0, 4).map((r) => r.id);
      await db.query(
        `UPDATE feed_events SET created_at = now() - interval '40 days' WHERE id = ANY($1::bigint[])`,
        [old],
      );
      const r = await upkeepOnce(db, { retentionDays: 30, childBatch: 3, pauseMs: 0 });
      assert.equal(r.feed_events, 4);
      const left = await db.query<{ id: string }>('SELECT id::text AS id FROM feed_events ORDER BY id');
      assert.deepEqual(
        left.rows.map((x) => x.id),
        events.rows.slice(4).map((x) => x.id),
      );
    });

    it('is off by default: RETENTION_DAYS 0 deletes nothing but still prunes spent counters', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      const created = await queue.submit([newTask()]);
      await endedDaysAgo(db, [created[0]!.task.id], 400);
      await db.query(
        `INSERT INTO task_activity (bucket, stripe, claims) VALUES (now() - interval '3 days', 0, 1), (now(), 0, 1)`,
      );
      const r = await upkeepOnce(db, { retentionDays: 0 });
      assert.equal(r.tasks, 0);
      assert.equal(await countOf(db, 'tasks'), 1);
      const buckets = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM task_activity WHERE bucket < now() - interval '2 days' AND bucket > '-infinity'`,
      );
      assert.equal(buckets.rows[0]!.n, 0, 'minute buckets past every window are dropped');
      assert.ok(r.counter_rows >= 1);
    });

    it('stops between batches when the server stops', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const created = await queue.submit(Array.from({ length: 6 }, () => newTask()));
      await endedDaysAgo(
        db,
        created.map((c) => c.task.id),
        40,
      );
      let batches = 0;
      const r = await upkeepOnce(db, { retentionDays: 30, taskBatch: 2, pauseMs: 0 }, () => batches++ > 3);
      assert.ok(r.tasks < 6, `stopped early (deleted ${r.tasks})`);
    });
  });
}
