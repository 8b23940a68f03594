/** Task logs: fenced appends that keep their order, and the reads the API and feeds use. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LogLevel, NewLog, Queue, Task } from '../src/queue/index.ts';
import { reapOnce } from '../src/queue/index.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, claimOne, openQueue, submitOne } from './helpers/queue-fixtures.ts';

const LEVELS: LogLevel[] = ['debug', 'info', 'warning', 'error', 'critical'];
/** Every worker line, oldest first (the server's own lines — created, claimed… — are left out). */
const all = { limit: 10_000, order: 'oldest', sources: ['worker'] } as const;

async function runningTask(queue: Queue, o: { max_attempts?: number } = {}): Promise<Task> {
  await addWorker(queue, 'w1');
  await submitOne(queue, o);
  return claimOne(queue, 'w1');
}

for (const mode of dbModes()) {
  describe(`task logs (${mode})`, () => {
    it('appended lines are read back in append order, across batches, with their fields', async (t) => {
      const { queue } = await openQueue(t, mode);
      const task = await runningTask(queue);
      const lines: NewLog[] = Array.from({ length: 150 }, (_, i) => ({
        level: LEVELS[i % 5]!,
        message: `line ${i}`,
        context: i % 10 === 0 ? { step: i, action: 'kubectl get pods', details: { ok: true } } : null,
      }));
      for (let b = 0; b < 150; b += 50) {
        assert.equal(await queue.appendLogs('w1', task.id, task.attempt, lines.slice(b, b + 50)), 50);
      }
      const logs = await queue.readLogs(task.id, all);
      assert.deepEqual(
        logs.map((l) => l.message),
        lines.map((l) => l.message),
      );
      assert.deepEqual(
        logs.map((l) => l.level),
        lines.map((l) => l.level),
      );
      assert.deepEqual(logs[10]!.context, { step: 10, action: 'kubectl get pods', details: { ok: true } });
      assert.deepEqual(
        logs[11]!.context,
        {},
        'no context reads as an empty object, as the predecessor served it',
      );
      assert.ok(logs.every((l) => l.source === 'worker' && l.attempt === 1 && l.task_id === task.id));
      const ids = logs.map((l) => l.seq);
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
        'ids grow with append order',
      );
    });

    it('concurrent batches all land, each in its own order', async (t) => {
      const { queue } = await openQueue(t, mode);
      const task = await runningTask(queue);
      const batches = Array.from({ length: 8 }, (_, b) =>
        Array.from({ length: 25 }, (_, i) => ({ level: 'info' as const, message: `b${b}-${i}` })),
      );
      await Promise.all(batches.map((batch) => queue.appendLogs('w1', task.id, task.attempt, batch)));
      const logs = await queue.readLogs(task.id, all);
      assert.equal(logs.length, 200);
      for (let b = 0; b < 8; b++) {
        const mine = logs.filter((l) => l.message.startsWith(`b${b}-`)).map((l) => l.message);
        assert.deepEqual(
          mine,
          batches[b]!.map((l) => l.message),
        );
      }
    });

    it('newest returns the last entries, still oldest first', async (t) => {
      const { queue } = await openQueue(t, mode);
      const task = await runningTask(queue);
      await queue.appendLogs(
        'w1',
        task.id,
        task.attempt,
        Array.from({ length: 30 }, (_, i) => ({ level: 'info' as const, message: `m${i}` })),
      );
      const newest = await queue.readLogs(task.id, { limit: 5, order: 'newest', sources: ['worker'] });
      assert.deepEqual(
        newest.map((l) => l.message),
        ['m25', 'm26', 'm27', 'm28', 'm29'],
      );
      const oldest = await queue.readLogs(task.id, { limit: 3, order: 'oldest', sources: ['worker'] });
      assert.deepEqual(
        oldest.map((l) => l.message),
        ['m0', 'm1', 'm2'],
      );
    });

    it('an after cursor pages through every entry exactly once', async (t) => {
      const { queue } = await openQueue(t, mode);
      const task = await runningTask(queue);
      await queue.appendLogs(
        'w1',
        task.id,
        task.attempt,
        Array.from({ length: 23 }, (_, i) => ({ level: 'info' as const, message: `m${i}` })),
      );
      const seen: string[] = [];
      let after: number | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await queue.readLogs(task.id, { limit: 7, order: 'oldest', after, sources: ['worker'] });
        if (page.length === 0) break;
        seen.push(...page.map((l) => l.message));
        after = page.at(-1)!.seq;
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 23 }, (_, i) => `m${i}`),
      );
      // A follower resuming from the cursor sees only what came after.
      await queue.appendLogs('w1', task.id, task.attempt, [{ level: 'info', message: 'late' }]);
      const tail = await queue.readLogs(task.id, { limit: 100, order: 'oldest', after, sources: ['worker'] });
      assert.deepEqual(
        tail.map((l) => l.message),
        ['late'],
      );
    });

    it('a level filter returns only those levels', async (t) => {
      const { queue } = await openQueue(t, mode);
      const task = await runningTask(queue);
      await queue.appendLogs(
        'w1',
        task.id,
        task.attempt,
        LEVELS.flatMap((level) => [
          { level, message: `${level}-1` },
          { level, message: `${level}-2` },
        ]),
      );
      const bad = await queue.readLogs(task.id, { ...all, levels: ['error', 'critical'] });
      assert.deepEqual(
        bad.map((l) => l.message),
        ['error-1', 'error-2', 'critical-1', 'critical-2'],
      );
      const one = await queue.readLogs(task.id, { ...all, levels: ['debug'] });
      assert.deepEqual(
        one.map((l) => l.message),
        ['debug-1', 'debug-2'],
      );
    });

    it('since returns entries stamped at or after the given time', async (t) => {
      const { queue } = await openQueue(t, mode);
      const task = await runningTask(queue);
      const stamp = (s: number) => new Date(Date.UTC(2025, 0, 1, 12, 0, s)).toISOString();
      await queue.appendLogs(
        'w1',
        task.id,
        task.attempt,
        Array.from({ length: 10 }, (_, i) => ({
          level: 'info' as const,
          message: `s${i}`,
          timestamp: stamp(i),
        })),
      );
      const logs = await queue.readLogs(task.id, { ...all, since: stamp(6) });
      assert.deepEqual(
        logs.map((l) => l.message),
        ['s6', 's7', 's8', 's9'],
      );
      assert.equal(logs[0]!.timestamp, stamp(6));
      const combined = await queue.readLogs(task.id, {
        limit: 2,
        order: 'newest',
        since: stamp(3),
        sources: ['worker'],
      });
      assert.deepEqual(
        combined.map((l) => l.message),
        ['s8', 's9'],
      );
    });

    it("one task's logs never show in another's", async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 2 });
      await submitOne(queue);
      await submitOne(queue);
      const [a, b] = await queue.claim('w1', 2);
      await queue.appendLogs('w1', a!.id, a!.attempt, [{ level: 'info', message: 'for a' }]);
      await queue.appendLogs('w1', b!.id, b!.attempt, [{ level: 'info', message: 'for b' }]);
      assert.deepEqual(
        (await queue.readLogs(a!.id, all)).map((l) => l.message),
        ['for a'],
      );
      assert.deepEqual(
        (await queue.readLogs(b!.id, all)).map((l) => l.message),
        ['for b'],
      );
    });

    it('each line records the attempt that wrote it', async (t) => {
      const { queue } = await openQueue(t, mode);
      const first = await runningTask(queue, { max_attempts: 2 });
      await queue.appendLogs('w1', first.id, first.attempt, [{ level: 'info', message: 'try 1' }]);
      await queue.fail('w1', first.id, first.attempt, { reason: 'flaky' }, true);
      const second = await claimOne(queue, 'w1');
      await queue.appendLogs('w1', second.id, null, [{ level: 'info', message: 'try 2' }]);
      assert.deepEqual(
        (await queue.readLogs(first.id, all)).map((l) => [l.message, l.attempt]),
        [
          ['try 1', 1],
          ['try 2', 2],
        ],
      );
    });

    it('server lines append without a fence, even after the task ended', async (t) => {
      const { queue } = await openQueue(t, mode);
      const task = await runningTask(queue);
      await queue.complete('w1', task.id, task.attempt, null);
      await queue.appendSystemLog(task.id, [
        { level: 'warning', message: 'callback failed', context: { status: 500 } },
        { level: 'info', message: 'callback delivered', source: 'callbacks' },
      ]);
      const logs = await queue.readLogs(task.id, { limit: 100, order: 'oldest' });
      assert.deepEqual(
        logs.slice(-2).map((l) => [l.message, l.source, l.attempt]),
        [
          ['callback failed', 'server', 1],
          ['callback delivered', 'callbacks', 1],
        ],
      );
      const callbacks = await queue.readLogs(task.id, {
        limit: 100,
        order: 'oldest',
        sources: ['callbacks'],
      });
      assert.deepEqual(
        callbacks.map((l) => l.message),
        ['callback delivered'],
      );
    });

    it("the server logs each transition in the transition's own statement, with who and which attempt", async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      const task = await submitOne(queue, { max_attempts: 2 });
      const first = await claimOne(queue, 'w1');
      await queue.fail('w1', first.id, first.attempt, { reason: 'flaky' }, true);
      const second = await claimOne(queue, 'w1');
      await queue.complete('w1', second.id, second.attempt, { ok: true });
      const logs = await queue.readLogs(task.id, { limit: 100, order: 'oldest', sources: ['server'] });
      assert.deepEqual(
        logs.map((l) => [(l.context as { event: string }).event, l.attempt, l.level]),
        [
          ['created', 0, 'info'],
          ['claimed', 1, 'info'],
          ['requeued', 1, 'warning'],
          ['claimed', 2, 'info'],
          ['completed', 2, 'info'],
        ],
      );
      assert.match(logs[1]!.message, /^Claimed by worker w1 \(attempt 1 of 2\)$/);
      assert.deepEqual(logs[1]!.context, { event: 'claimed', worker_id: 'w1', attempt: 1 });
      assert.match(logs[4]!.message, /^Completed \(reported by worker w1, attempt 2\)$/);
      assert.ok(logs.every((l) => l.source === 'server'));
    });

    it('the server logs cancels (once per request), failures and what the reaper does', async (t) => {
      const { queue, db } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 3 });
      const pending = await submitOne(queue);
      await queue.cancel(pending.id);
      const running = await submitOne(queue);
      const lost = await submitOne(queue, { max_attempts: 2 });
      const late = await submitOne(queue);
      const claimed = await queue.claim('w1', 3);
      const held = (id: string) => claimed.find((c) => c.id === id)!;
      await queue.cancel(running.id);
      await queue.cancel(running.id);
      await queue.fail('w1', running.id, held(running.id).attempt, { reason: 'cancelled' });
      await db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [
        lost.id,
      ]);
      await db.query(`UPDATE tasks SET deadline_at = now() - interval '1 second' WHERE id = $1`, [late.id]);
      await reapOnce(queue, 3600);
      const events = async (id: string) =>
        (await queue.readLogs(id, { limit: 100, order: 'oldest', sources: ['server'] })).map(
          (l) => [(l.context as { event: string }).event, l.message] as const,
        );
      assert.deepEqual(await events(pending.id), [
        ['created', 'Task created (problem sandbox-detection-1, priority 5)'],
        ['cancelled', 'Cancelled while pending'],
      ]);
      const r = await events(running.id);
      assert.deepEqual(
        r.map(([e]) => e),
        ['created', 'claimed', 'cancel_requested', 'cancelled'],
      );
      assert.match(r[2]![1], /^Cancel requested: worker w1 is told to stop/);
      assert.match(r[3]![1], /^Cancelled \(worker w1 stopped after the cancel request\)$/);
      const l = await events(lost.id);
      assert.deepEqual(l.at(-1)![0], 'requeued');
      assert.match(
        l.at(-1)![1],
        /^Requeued: worker w1 stopped heartbeating; lease expired on attempt 1 of 2$/,
      );
      const d = await events(late.id);
      assert.deepEqual(d.at(-1)![0], 'timed_out');
      assert.match(d.at(-1)![1], /^Timed out: the deadline passed while worker w1 ran attempt 1$/);
    });
  });
}
