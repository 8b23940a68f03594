/**
 * Fencing: a worker report lands only while that worker holds the current attempt. Every
 * refusal says why with a stable code, changes nothing, and is counted as an event.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Queue, type QueueErrorCode, reapOnce } from '../src/queue/index.ts';
import { dbModes } from './helpers/db.ts';
import {
  addWorker,
  claimOne,
  expireLease,
  openQueue,
  type QueueFixture,
  rawRow,
  recordFencing,
  rejectsWith,
  submitOne,
} from './helpers/queue-fixtures.ts';

/** Who reports on which task with which attempt, for each way of not holding it. */
interface Caller {
  taskId: string;
  workerId: string;
  attempt: number | null;
}

const scenarios: Record<
  Exclude<
    QueueErrorCode,
    'WORKER_NOT_FOUND' | 'WORKER_OFFLINE' | 'IDEMPOTENCY_CONFLICT' | 'EXPERIMENT_NOT_FOUND'
  >,
  {
    title: string;
    setup: (f: QueueFixture) => Promise<Caller>;
  }
> = {
  TASK_NOT_FOUND: {
    title: 'on a task that does not exist',
    setup: async () => ({ taskId: crypto.randomUUID(), workerId: 'w1', attempt: 1 }),
  },
  TASK_NOT_HELD: {
    title: 'by a worker that does not hold the task',
    setup: async ({ queue }) => {
      await submitOne(queue);
      const task = await claimOne(queue, 'w1');
      return { taskId: task.id, workerId: 'w2', attempt: task.attempt };
    },
  },
  STALE_ATTEMPT: {
    title: 'by the same worker with an attempt from before a re-claim',
    setup: async ({ db, queue }) => {
      await submitOne(queue, { max_attempts: 2 });
      const first = await claimOne(queue, 'w1');
      await expireLease(db, first.id);
      assert.equal((await reapOnce(queue, 3600))?.requeued, 1);
      const second = await claimOne(queue, 'w1');
      assert.equal(second.attempt, 2);
      return { taskId: first.id, workerId: 'w1', attempt: first.attempt };
    },
  },
  TASK_ALREADY_TERMINAL: {
    title: 'on a task that already ended',
    setup: async ({ queue }) => {
      await submitOne(queue);
      const task = await claimOne(queue, 'w1');
      await queue.complete('w1', task.id, task.attempt, { first: true });
      return { taskId: task.id, workerId: 'w1', attempt: task.attempt };
    },
  },
  TASK_NOT_RUNNING: {
    title: 'on a task that is pending',
    setup: async ({ queue }) => {
      const task = await submitOne(queue);
      return { taskId: task.id, workerId: 'w1', attempt: 1 };
    },
  },
};

type Op = (q: Queue, c: Caller) => Promise<unknown>;
const ops: Record<string, Op> = {
  complete: (q, c) => q.complete(c.workerId, c.taskId, c.attempt, { stale: true }),
  fail: (q, c) => q.fail(c.workerId, c.taskId, c.attempt, { reason: 'stale' }),
  'fail with retry': (q, c) => q.fail(c.workerId, c.taskId, c.attempt, { reason: 'stale' }, true),
  release: (q, c) => q.release(c.workerId, c.taskId, c.attempt),
  appendLogs: (q, c) =>
    q.appendLogs(c.workerId, c.taskId, c.attempt, [{ level: 'info', message: 'stale line' }]),
};

const allRows = async (f: QueueFixture) => {
  const { rows } = await f.db.query<{ id: string }>('SELECT id FROM tasks ORDER BY seq');
  return Promise.all(rows.map((r) => rawRow(f.db, r.id)));
};
const logCount = async (f: QueueFixture) =>
  (await f.db.query<{ n: number }>('SELECT count(*)::int AS n FROM task_logs')).rows[0]!.n;

for (const mode of dbModes()) {
  describe(`fencing refusals (${mode})`, () => {
    for (const [code, { title, setup }] of Object.entries(scenarios)) {
      for (const [opName, op] of Object.entries(ops)) {
        it(`${opName} ${title} is refused with ${code} and changes nothing`, async (t) => {
          const f = await openQueue(t, mode);
          await addWorker(f.queue, 'w1');
          await addWorker(f.queue, 'w2');
          const caller = await setup(f);
          const before = await allRows(f);
          const logsBefore = await logCount(f);
          const events = recordFencing(f.queue);

          await rejectsWith(op(f.queue, caller), code as QueueErrorCode);

          assert.deepEqual(await allRows(f), before);
          assert.equal(await logCount(f), logsBefore);
          assert.deepEqual(events, code === 'TASK_NOT_FOUND' ? [] : [code]);
        });
      }

      it(`a heartbeat carrying a lease ${title} reports it lost and extends nothing`, async (t) => {
        const f = await openQueue(t, mode);
        await addWorker(f.queue, 'w1');
        await addWorker(f.queue, 'w2');
        const caller = await setup(f);
        const before = await allRows(f);
        const events = recordFencing(f.queue);

        const hb = await f.queue.heartbeat(caller.workerId, undefined, [
          { task_id: caller.taskId, attempt: caller.attempt ?? 1 },
        ]);
        assert.deepEqual(hb.lost, [caller.taskId]);
        assert.deepEqual(hb.extended, []);
        assert.deepEqual(hb.cancel_requested, []);
        assert.deepEqual(await allRows(f), before, 'no lease moved');
        // A task this same worker completed at this attempt raced its heartbeat: not a refusal.
        assert.deepEqual(events, code === 'TASK_ALREADY_TERMINAL' ? [] : ['TASK_NOT_HELD']);
      });
    }

    it('a stale worker cannot complete a task re-leased to another worker, which then completes it', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await addWorker(queue, 'w2');
      await submitOne(queue, { max_attempts: 2 });
      const lost = await claimOne(queue, 'w1');
      await expireLease(db, lost.id);
      await reapOnce(queue, 3600);
      const current = await claimOne(queue, 'w2');

      await rejectsWith(queue.complete('w1', lost.id, lost.attempt, { from: 'w1' }), 'TASK_NOT_HELD');
      await rejectsWith(queue.complete('w1', lost.id, null, { from: 'w1' }), 'TASK_NOT_HELD');
      await rejectsWith(queue.complete('w2', lost.id, lost.attempt, { from: 'w2' }), 'STALE_ATTEMPT');
      const done = await queue.complete('w2', current.id, current.attempt, { from: 'w2' });
      assert.equal(done.status, 'completed');
      assert.deepEqual(done.result, { from: 'w2' });
    });

    it('a heartbeat extends the held lease and reports the others lost, in one call', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 3 });
      await addWorker(queue, 'w2');
      await submitOne(queue);
      await submitOne(queue);
      await submitOne(queue);
      const [mine, finished] = await queue.claim('w1', 2);
      const other = await claimOne(queue, 'w2');
      await queue.complete('w1', finished!.id, finished!.attempt, null);
      await expireLease(db, mine!.id);
      const events = recordFencing(queue);

      const hb = await queue.heartbeat('w1', undefined, [
        { task_id: mine!.id, attempt: mine!.attempt },
        { task_id: finished!.id, attempt: finished!.attempt },
        { task_id: other.id, attempt: other.attempt },
        { task_id: mine!.id, attempt: mine!.attempt + 1 },
      ]);
      assert.deepEqual(hb.extended, [{ task_id: mine!.id, attempt: mine!.attempt }]);
      assert.deepEqual(hb.lost.sort(), [finished!.id, other.id].sort());
      assert.deepEqual(events, ['TASK_NOT_HELD']);
      const lease = await db.query<{ live: boolean }>(
        'SELECT lease_expires_at > now() AS live FROM tasks WHERE id = $1',
        [mine!.id],
      );
      assert.equal(lease.rows[0]!.live, true);
    });

    it('a heartbeat from an unknown worker is refused with WORKER_NOT_FOUND', async (t) => {
      const { queue } = await openQueue(t, mode);
      await rejectsWith(queue.heartbeat('ghost', undefined, null), 'WORKER_NOT_FOUND');
    });

    it('completeMany accepts only the completions whose worker holds the current attempt', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 3 });
      await submitOne(queue);
      await submitOne(queue);
      await submitOne(queue);
      const [a, b, c] = await queue.claim('w1', 3);
      const events = recordFencing(queue);
      const ok = await queue.completeMany([
        { task_id: a!.id, worker_id: 'w1', attempt: a!.attempt, result: { n: 1 } },
        { task_id: b!.id, worker_id: 'w2', attempt: b!.attempt, result: { n: 2 } },
        { task_id: c!.id, worker_id: 'w1', attempt: c!.attempt + 1, result: { n: 3 } },
      ]);
      assert.deepEqual([...ok], [a!.id]);
      assert.equal(events.length, 2);
      assert.equal((await queue.mustGetTask(a!.id)).status, 'completed');
      assert.equal((await queue.mustGetTask(b!.id)).status, 'running');
      assert.equal((await queue.mustGetTask(c!.id)).status, 'running');
    });

    it('a stale lease batched beside the holder’s report of the same task is refused, not credited', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await addWorker(queue, 'w2');
      await submitOne(queue, { max_attempts: 2 });
      const first = await claimOne(queue, 'w1');
      await queue.release('w1', first.id, first.attempt); // back in the queue, not charged
      const current = await claimOne(queue, 'w2');
      const done = await queue.completeBatch([
        { task_id: first.id, worker_id: 'w1', attempt: first.attempt, result: { stale: true } },
        { task_id: current.id, worker_id: 'w2', attempt: current.attempt, result: { ok: true } },
        { task_id: current.id, worker_id: 'w2', attempt: current.attempt - 1, result: { old: true } },
        // The holder's report twice in one batch: one transition, one winner.
        { task_id: current.id, worker_id: 'w2', attempt: current.attempt, result: { again: true } },
      ]);
      assert.deepEqual(
        done.map((d) => d?.status ?? null),
        [null, 'completed', null, null],
      );
      assert.deepEqual((await queue.mustGetTask(current.id)).result, { ok: true });
    });
  });
}
