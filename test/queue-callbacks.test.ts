/**
 * The callback store: a terminal transition queues the callback on the task row itself, so a
 * crash between the transition and the POST loses nothing; deliveries are leased and recorded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queryable } from '../src/db/types.ts';
import { type Queue, reapOnce, recordCallbackAttempt, takeDueCallbacks } from '../src/queue/index.ts';
import { dbModes } from './helpers/db.ts';
import {
  addWorker,
  claimOne,
  expireLease,
  newTask,
  openQueue,
  passDeadline,
  type QueueFixture,
  submitOne,
} from './helpers/queue-fixtures.ts';

const CALLBACK = { callback_url: 'http://127.0.0.1:9/hook' };

interface CallbackRow {
  callback_state: string | null;
  callback_attempts: number;
  next_at: string | null;
  due: boolean | null;
}

async function callbackOf(db: Queryable, id: string): Promise<CallbackRow> {
  const { rows } = await db.query<CallbackRow>(
    `SELECT callback_state, callback_attempts, callback_next_at::text AS next_at, callback_next_at <= now() AS due
     FROM tasks WHERE id = $1`,
    [id],
  );
  return rows[0]!;
}

/** Ways a task with a callback URL reaches a terminal state. */
const endings: Record<string, (f: QueueFixture) => Promise<string>> = {
  completed: async ({ queue }) => {
    const t = await claimOne(queue, 'w1');
    await queue.complete('w1', t.id, t.attempt, { ok: true });
    return t.id;
  },
  failed: async ({ queue }) => {
    const t = await claimOne(queue, 'w1');
    await queue.fail('w1', t.id, t.attempt, { reason: 'x' });
    return t.id;
  },
  'cancelled while pending': async ({ queue }) => {
    const [t] = (await queue.listTasks({ limit: 1, offset: 0 })).tasks;
    await queue.cancel(t!.id);
    return t!.id;
  },
  'cancelled while running': async ({ queue }) => {
    const t = await claimOne(queue, 'w1');
    await queue.cancel(t.id);
    await queue.fail('w1', t.id, t.attempt, { reason: 'cancelled' });
    return t.id;
  },
  'timed out by the reaper': async ({ db, queue }) => {
    const t = await claimOne(queue, 'w1');
    await passDeadline(db, t.id);
    await reapOnce(queue, 3600);
    return t.id;
  },
  'failed by the reaper (worker lost)': async ({ db, queue }) => {
    const t = await claimOne(queue, 'w1');
    await expireLease(db, t.id);
    await reapOnce(queue, 3600);
    return t.id;
  },
};

async function completedWithCallback(queue: Queue, n: number): Promise<string[]> {
  await addWorker(queue, 'w1', { max_parallel: n });
  await queue.submit(Array.from({ length: n }, () => newTask({ parameters: CALLBACK })));
  const claimed = await queue.claim('w1', n);
  await queue.completeMany(
    claimed.map((t) => ({ task_id: t.id, worker_id: 'w1', attempt: t.attempt, result: null })),
  );
  return claimed.map((t) => t.id);
}

for (const mode of dbModes()) {
  describe(`callback store (${mode})`, () => {
    for (const [ending, drive] of Object.entries(endings)) {
      it(`a task with a callback_url ${ending} has its callback queued and due`, async (t) => {
        const f = await openQueue(t, mode);
        await addWorker(f.queue, 'w1');
        await submitOne(f.queue, { parameters: CALLBACK });
        const id = await drive(f);
        const cb = await callbackOf(f.db, id);
        assert.equal(cb.callback_state, 'pending');
        assert.equal(cb.callback_attempts, 0);
        assert.equal(cb.due, true);
        assert.equal((await f.queue.mustGetTask(id)).callback_state, 'pending');
      });
    }

    it('a task without a callback_url never queues one', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue);
      const task = await claimOne(queue, 'w1');
      await queue.complete('w1', task.id, task.attempt, null);
      assert.equal((await callbackOf(db, task.id)).callback_state, null);
      assert.deepEqual(await takeDueCallbacks(db, 10, 60), []);
    });

    it('going back to pending (retry, release, lost lease) queues no callback', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      const task = await submitOne(queue, { max_attempts: 3, parameters: CALLBACK });
      const a = await claimOne(queue, 'w1');
      await queue.fail('w1', a.id, a.attempt, { reason: 'flaky' }, true);
      const b = await claimOne(queue, 'w1');
      await queue.release('w1', b.id, b.attempt);
      await claimOne(queue, 'w1');
      await expireLease(db, task.id);
      assert.equal((await reapOnce(queue, 3600))?.requeued, 1);
      assert.equal((await callbackOf(db, task.id)).callback_state, null);
      assert.deepEqual(await takeDueCallbacks(db, 10, 60), []);
    });

    it('taking due callbacks leases them: a second take gets nothing until the lease runs out', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const ids = await completedWithCallback(queue, 3);
      const taken = await takeDueCallbacks(db, 10, 60);
      assert.deepEqual(taken.map((x) => x.id).sort(), [...ids].sort());
      assert.ok(
        taken.every((x) => x.parameters.callback_url === CALLBACK.callback_url && x.status === 'completed'),
      );
      assert.deepEqual(await takeDueCallbacks(db, 10, 60), []);
      for (const id of ids) assert.equal((await callbackOf(db, id)).due, false);

      // The deliverer died: once its lease runs out, the callbacks are due again.
      await db.query(`UPDATE tasks SET callback_next_at = now() - interval '1 second' WHERE id = $1`, [
        ids[1],
      ]);
      assert.deepEqual(
        (await takeDueCallbacks(db, 10, 60)).map((x) => x.id),
        [ids[1]],
      );
    });

    it('a take returns at most its limit, the rest stay due', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await completedWithCallback(queue, 5);
      assert.equal((await takeDueCallbacks(db, 2, 60)).length, 2);
      assert.equal((await takeDueCallbacks(db, 10, 60)).length, 3);
      assert.equal((await takeDueCallbacks(db, 10, 60)).length, 0);
    });

    it('concurrent takers never get the same callback', async (t) => {
      const { db, queue } = await openQueue(t, mode, { poolSize: 6 });
      const ids = await completedWithCallback(queue, 120);
      const takes = await Promise.all(Array.from({ length: 6 }, () => takeDueCallbacks(db, 30, 60)));
      const got = takes.flat().map((x) => x.id);
      assert.equal(new Set(got).size, got.length, 'no callback taken twice');
      const rest = await takeDueCallbacks(db, 1000, 60);
      assert.deepEqual([...got, ...rest.map((x) => x.id)].sort(), [...ids].sort());
    });

    it('a delivered callback is recorded once and never taken again', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const [id] = await completedWithCallback(queue, 1);
      await takeDueCallbacks(db, 10, 60);
      await recordCallbackAttempt(db, id!, true, null);
      assert.deepEqual(await callbackOf(db, id!), {
        callback_state: 'delivered',
        callback_attempts: 1,
        next_at: null,
        due: null,
      });
      await db.query(`UPDATE tasks SET callback_next_at = now() - interval '1 hour' WHERE id = $1`, [id]);
      assert.deepEqual(await takeDueCallbacks(db, 10, 60), []);
      // A late duplicate report changes nothing.
      await recordCallbackAttempt(db, id!, false, new Date());
      const after = await callbackOf(db, id!);
      assert.equal(after.callback_state, 'delivered');
      assert.equal(after.callback_attempts, 1);
    });

    it('a failed delivery with a retry time stays pending and is due again only then', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const [id] = await completedWithCallback(queue, 1);
      await takeDueCallbacks(db, 10, 60);
      const later = new Date(Date.now() + 3600_000);
      await recordCallbackAttempt(db, id!, false, later);
      const cb = await callbackOf(db, id!);
      assert.equal(cb.callback_state, 'pending');
      assert.equal(cb.callback_attempts, 1);
      assert.equal(cb.due, false);
      const nextAt = await db.query<{ same: boolean }>(
        'SELECT callback_next_at = $2::timestamptz AS same FROM tasks WHERE id = $1',
        [id, later.toISOString()],
      );
      assert.equal(nextAt.rows[0]!.same, true);
      assert.deepEqual(await takeDueCallbacks(db, 10, 60), []);

      await recordCallbackAttempt(db, id!, false, new Date(Date.now() - 1000));
      assert.equal((await callbackOf(db, id!)).callback_attempts, 2);
      assert.deepEqual(
        (await takeDueCallbacks(db, 10, 60)).map((x) => x.id),
        [id],
      );
    });

    it('a delivery given up on (no retry time) ends failed and is never taken again', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const [id] = await completedWithCallback(queue, 1);
      await takeDueCallbacks(db, 10, 60);
      await recordCallbackAttempt(db, id!, false, null);
      const cb = await callbackOf(db, id!);
      assert.equal(cb.callback_state, 'failed');
      assert.equal(cb.callback_attempts, 1);
      assert.deepEqual(await takeDueCallbacks(db, 10, 60), []);
    });
  });
}
