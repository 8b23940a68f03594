/**
 * A refused heartbeat changes nothing (no liveness, no lease), and the fencing metric counts
 * only real refusals: a heartbeat that still lists a task this worker itself ended a moment
 * earlier (its own complete or fail won the race) is not one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reapOnce } from '../src/queue/reaper.ts';
import { createTestApp, json } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, claimOne, expireLease, openQueue, submitOne } from './helpers/queue-fixtures.ts';

const W = 'worker-001-kind';
const LONG_AGO = '2001-01-01T00:00:00.000Z';

for (const mode of dbModes()) {
  describe(`heartbeat refusals (${mode})`, () => {
    it('a heartbeat refused with 422 records no liveness', async () => {
      const t = await createTestApp(mode);
      try {
        await addWorker(t.queue, W);
        await submitOne(t.queue);
        const task = await claimOne(t.queue, W);
        await t.db.query(`UPDATE workers SET last_heartbeat = $1, status = 'offline'`, [LONG_AGO]);
        const refused = [
          { status: 'idle', bogus: 1 },
          { tasks: [{ task_id: task.id, attempt: 2 ** 31 }] },
          { tasks: [{ task_id: 'not-a-uuid', attempt: 1 }] },
          { status: 'sleeping' },
        ];
        for (const payload of refused) {
          const res = await t.inject({ method: 'POST', url: `/api/v1/workers/${W}/heartbeat`, payload });
          assert.equal(res.statusCode, 422, `${JSON.stringify(payload)} → ${res.body}`);
        }
        const res = await t.inject({
          method: 'POST',
          url: `/api/v1/workers/${W}/heartbeat`,
          payload: 'null',
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(res.statusCode, 422, res.body);
        const worker = json(await t.inject({ method: 'GET', url: `/api/v1/workers/${W}` }));
        assert.equal(worker.last_heartbeat, LONG_AGO);
        assert.equal(worker.status, 'offline');
      } finally {
        await t.close();
      }
    });

    it('status_reason: a string sets metadata.status_reason, null clears it, omitted leaves it', async () => {
      const t = await createTestApp(mode);
      try {
        await addWorker(t.queue, W);
        const beat = async (payload: object) => {
          const res = await t.inject({ method: 'POST', url: `/api/v1/workers/${W}/heartbeat`, payload });
          assert.equal(res.statusCode, 200, res.body);
          return json(await t.inject({ method: 'GET', url: `/api/v1/workers/${W}` })).metadata as Record<
            string,
            unknown
          >;
        };
        const reason = 'resetting kind cluster aiopslab-worker-001-kind';
        const kept = { ...(await beat({ status: 'idle' })) };
        assert.equal(kept.status_reason, undefined);
        assert.deepEqual(await beat({ status: 'idle', status_reason: reason }), {
          ...kept,
          status_reason: reason,
        });
        assert.equal((await beat({ status: 'idle' })).status_reason, reason, 'omitted: left as it was');
        assert.deepEqual(await beat({ status: 'idle', status_reason: null }), kept);
      } finally {
        await t.close();
      }
    });

    it('a heartbeat the database refuses records no liveness and extends no lease', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, W);
      await submitOne(queue);
      const task = await claimOne(queue, W);
      await db.query(`UPDATE workers SET last_heartbeat = $1`, [LONG_AGO]);
      const before = await db.query('SELECT lease_expires_at FROM tasks WHERE id = $1', [task.id]);
      // The queue itself, past the HTTP schema: int4 overflow is refused by the database.
      const leases = [
        { task_id: task.id, attempt: task.attempt },
        { task_id: task.id, attempt: 2 ** 31 },
      ];
      await assert.rejects(queue.heartbeat(W, 'idle', leases));
      const w = await queue.getWorker(W);
      assert.equal(w?.last_heartbeat, LONG_AGO);
      const after = await db.query('SELECT lease_expires_at FROM tasks WHERE id = $1', [task.id]);
      assert.deepEqual(after.rows, before.rows);
    });

    it('counts a fencing refusal only when the worker really lost the task', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const refusals: string[] = [];
      queue.events.on('fencing_rejected', (code) => refusals.push(code));
      await addWorker(queue, W, { max_parallel: 10 });
      await addWorker(queue, 'worker-002-kind');
      for (let i = 0; i < 4; i++) await submitOne(queue);
      const [a, b, c, d] = await queue.claim(W, 4);
      assert.ok(a && b && c && d);
      const lease = (x: typeof a) => ({ task_id: x.id, attempt: x.attempt });

      // Its own complete and its own fail won the race with the heartbeat: not refusals.
      await queue.complete(W, a.id, a.attempt, { ok: true });
      await queue.fail(W, b.id, b.attempt, { message: 'boom' });
      const raced = await queue.heartbeat(W, 'busy', [lease(a), lease(b), lease(c)]);
      assert.deepEqual(raced.lost.sort(), [a.id, b.id].sort());
      assert.deepEqual(
        raced.extended.map((e) => e.task_id),
        [c.id],
      );
      assert.deepEqual(refusals, []);

      // Lost to the reaper (lease expired, no attempts left): a real refusal.
      await expireLease(db, c.id);
      await reapOnce(queue, 3600);
      await queue.heartbeat(W, 'busy', [lease(c)]);
      assert.deepEqual(refusals, ['TASK_NOT_HELD']);

      // Not this worker's attempt (claimed by another after a requeue), or a task it never held.
      await db.query(`UPDATE tasks SET status = 'pending', worker_id = NULL WHERE id = $1`, [d.id]);
      await claimOne(queue, 'worker-002-kind');
      await queue.heartbeat(W, 'busy', [lease(d)]);
      await queue.heartbeat(W, 'busy', [{ task_id: '00000000-0000-4000-8000-000000000000', attempt: 1 }]);
      assert.deepEqual(refusals, ['TASK_NOT_HELD', 'TASK_NOT_HELD', 'TASK_NOT_HELD']);
    });
  });
}
