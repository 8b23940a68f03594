/**
 * Submitting: batches are atomic and keep their order, idempotency keys make retries safe,
 * and the list filters find tasks by their labels.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queryable } from '../src/db/types.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, claimOne, newTask, openQueue, submitOne } from './helpers/queue-fixtures.ts';

const countTasks = async (db: Queryable) =>
  (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks')).rows[0]!.n;

for (const mode of dbModes()) {
  describe(`submit (${mode})`, () => {
    it('a batch of 1000 is stored in one call and each result matches its input, in order', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const inputs = Array.from({ length: 1000 }, (_, i) =>
        newTask({
          problem_id: `problem-${i}`,
          priority: i % 11,
          backend_type: i % 4 === 0 ? 'sandbox' : null,
          max_attempts: 1 + (i % 3),
          parameters: { max_steps: i, labels: { batch: 'b1', i: String(i) } },
        }),
      );
      const created = await queue.submit(inputs);
      assert.equal(created.length, 1000);
      assert.equal(await countTasks(db), 1000);
      for (const [i, c] of created.entries()) {
        assert.equal(c.created, true);
        assert.equal(c.task.status, 'pending');
        assert.equal(c.task.problem_id, `problem-${i}`);
        assert.equal(c.task.priority, i % 11);
        assert.equal(c.task.backend_type, i % 4 === 0 ? 'sandbox' : null);
        assert.equal(c.task.max_attempts, 1 + (i % 3));
        assert.equal(c.task.parameters.max_steps, i);
        assert.deepEqual(c.task.labels, { batch: 'b1', i: String(i) });
      }
      assert.equal(new Set(created.map((c) => c.task.id)).size, 1000);
      const seqs = await db.query<{ problem_id: string }>('SELECT problem_id FROM tasks ORDER BY seq');
      assert.deepEqual(
        seqs.rows.map((r) => r.problem_id),
        inputs.map((x) => x.problem_id),
        'seq follows submit order',
      );
    });

    it('a batch with one invalid row (priority 11) inserts none of its rows', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await submitOne(queue, { problem_id: 'earlier' });
      const inputs = Array.from({ length: 1000 }, (_, i) =>
        newTask({ problem_id: `p-${i}`, priority: i === 637 ? 11 : 5 }),
      );
      await assert.rejects(
        queue.submit(inputs),
        (err: { code?: string; constraint?: string; message: string }) => {
          assert.equal(err.code, '23514');
          assert.match(err.message, /tasks_priority_check/);
          return true;
        },
      );
      assert.equal(await countTasks(db), 1, 'only the earlier task exists');
    });

    it('a batch with one invalid max_attempts inserts none of its rows, keyed rows included', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const inputs = Array.from({ length: 50 }, (_, i) =>
        newTask({ idempotency_key: `k-${i}`, max_attempts: i === 49 ? 0 : 1 }),
      );
      await assert.rejects(queue.submit(inputs));
      assert.equal(await countTasks(db), 0);
      // Nothing half-remembered: the keys are free for a corrected retry.
      inputs[49] = newTask({ idempotency_key: 'k-49', max_attempts: 1 });
      const created = await queue.submit(inputs);
      assert.ok(created.every((c) => c.created));
      assert.equal(await countTasks(db), 50);
    });

    it('resubmitting with the same idempotency key returns the original task with created=false', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const [first] = await queue.submit([newTask({ problem_id: 'original', idempotency_key: 'run-42' })]);
      assert.equal(first!.created, true);
      assert.equal(first!.task.idempotency_key, 'run-42');
      const [retry] = await queue.submit([
        newTask({ problem_id: 'different body', priority: 9, idempotency_key: 'run-42' }),
      ]);
      assert.equal(retry!.created, false);
      assert.equal(retry!.task.id, first!.task.id);
      assert.equal(retry!.task.problem_id, 'original', 'the retry does not overwrite the original');
      assert.equal(retry!.task.priority, 5);
      assert.equal(await countTasks(db), 1);
    });

    it('the key still returns the original after it ran to completion', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      const original = await submitOne(queue, { idempotency_key: 'once' });
      const claimed = await claimOne(queue, 'w1');
      await queue.complete('w1', claimed.id, claimed.attempt, { ok: true });
      const [again] = await queue.submit([newTask({ idempotency_key: 'once' })]);
      assert.equal(again!.created, false);
      assert.equal(again!.task.id, original.id);
      assert.equal(again!.task.status, 'completed');
      assert.deepEqual(await queue.claim('w1', 1), []);
    });

    it('a key repeated inside one batch yields one task, returned at both positions', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const created = await queue.submit([
        newTask({ problem_id: 'first', idempotency_key: 'dup' }),
        newTask({ problem_id: 'keyless-1' }),
        newTask({ problem_id: 'second', idempotency_key: 'dup' }),
        newTask({ problem_id: 'other', idempotency_key: 'other' }),
        newTask({ problem_id: 'keyless-2' }),
      ]);
      assert.deepEqual(
        created.map((c) => [c.task.problem_id, c.created]),
        [
          ['first', true],
          ['keyless-1', true],
          ['first', false],
          ['other', true],
          ['keyless-2', true],
        ],
      );
      assert.equal(created[0]!.task.id, created[2]!.task.id);
      assert.equal(await countTasks(db), 4);
    });

    it('a batch mixing known keys, new keys and keyless tasks maps each input to its own task', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const old = await submitOne(queue, { problem_id: 'old', idempotency_key: 'k-old' });
      const created = await queue.submit([
        newTask({ problem_id: 'n1' }),
        newTask({ problem_id: 'ignored', idempotency_key: 'k-old' }),
        newTask({ problem_id: 'n2', idempotency_key: 'k-new' }),
        newTask({ problem_id: 'n3' }),
      ]);
      assert.deepEqual(
        created.map((c) => [c.task.problem_id, c.created]),
        [
          ['n1', true],
          ['old', false],
          ['n2', true],
          ['n3', true],
        ],
      );
      assert.equal(created[1]!.task.id, old.id);
      assert.equal(await countTasks(db), 4);
    });

    it('concurrent submits with one key create exactly one task', async (t) => {
      const { db, queue } = await openQueue(t, mode, { poolSize: 10 });
      for (let round = 0; round < 5; round++) {
        const key = `race-${round}`;
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            queue.submit([newTask({ problem_id: `from-${i}`, idempotency_key: key })]),
          ),
        );
        const flat = results.map((r) => r[0]!);
        assert.equal(flat.filter((c) => c.created).length, 1, `round ${round}: one creator`);
        assert.equal(new Set(flat.map((c) => c.task.id)).size, 1, `round ${round}: one task id`);
      }
      assert.equal(await countTasks(db), 5);
    });

    it('listTasks finds tasks by labels: every given label must match', async (t) => {
      const { queue } = await openQueue(t, mode);
      await queue.submit([
        newTask({ problem_id: 'a1', parameters: { labels: { team: 'a', run: '1' } } }),
        newTask({ problem_id: 'a2', parameters: { labels: { team: 'a', run: '2' } } }),
        newTask({ problem_id: 'b1', parameters: { labels: { team: 'b', run: '1' } } }),
        newTask({ problem_id: 'none' }),
      ]);
      const find = async (labels: Record<string, string>) => {
        const r = await queue.listTasks({ labels, limit: 50, offset: 0 });
        assert.equal(r.total, r.tasks.length);
        return r.tasks.map((x) => x.problem_id).sort();
      };
      assert.deepEqual(await find({ team: 'a' }), ['a1', 'a2']);
      assert.deepEqual(await find({ run: '1' }), ['a1', 'b1']);
      assert.deepEqual(await find({ team: 'a', run: '2' }), ['a2']);
      assert.deepEqual(await find({ team: 'c' }), []);
      assert.deepEqual(await find({ team: 'a', run: '3' }), []);
      assert.deepEqual(await find({}), ['a1', 'a2', 'b1', 'none']);
    });

    it('listTasks combines filters and pages newest first with the full total', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 10 });
      await queue.submit(
        Array.from({ length: 7 }, (_, i) =>
          newTask({ problem_id: i < 5 ? 'p-x' : 'p-y', backend_type: i % 2 ? 'sandbox' : null }),
        ),
      );
      await queue.claim('w1', 2);
      const page1 = await queue.listTasks({ problem_id: 'p-x', limit: 2, offset: 0 });
      const page2 = await queue.listTasks({ problem_id: 'p-x', limit: 2, offset: 2 });
      const page3 = await queue.listTasks({ problem_id: 'p-x', limit: 2, offset: 4 });
      assert.equal(page1.total, 5);
      const ids = [...page1.tasks, ...page2.tasks, ...page3.tasks].map((x) => x.id);
      assert.equal(new Set(ids).size, 5);
      const all = await queue.listTasks({ limit: 10, offset: 0 });
      const newestFirst = all.tasks.filter((x) => x.problem_id === 'p-x').map((x) => x.id);
      assert.deepEqual(ids, newestFirst);
      assert.equal(
        (await queue.listTasks({ status: 'running', worker_id: 'w1', limit: 10, offset: 0 })).total,
        2,
      );
      assert.equal((await queue.listTasks({ backend_type: 'sandbox', limit: 10, offset: 0 })).total, 3);
      assert.equal(
        (await queue.listTasks({ status: 'pending', problem_id: 'p-y', limit: 10, offset: 0 })).total,
        2,
      );
    });
  });
}
