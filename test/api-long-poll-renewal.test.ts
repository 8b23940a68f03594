/**
 * Long-poll renewals (src/api/long-poll.ts): a worker whose last claim found nothing parks its
 * next long-poll without a claim while nothing can have changed for it, and its liveness is
 * recorded in a shared statement instead. These tests drive the real dispatcher over a real
 * queue (PGlite and PostgreSQL) and count the claims it runs through the real Attempts.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { LongPollDispatcher } from '../src/api/long-poll.ts';
import { Attempts } from '../src/attempts/index.ts';
import type { Db } from '../src/db/types.ts';
import { createQueue, type Queue } from '../src/queue/index.ts';
import { createTestDb, dbModes } from './helpers/db.ts';

const W = 'worker-001-kind';
const POLL_MS = 60_000; // the backstop never runs on its own here

const task = () => ({
  problem_id: 'p',
  priority: 5,
  backend_type: null,
  parameters: { max_steps: 1, timeout_minutes: 30, agent_config: {} },
  max_attempts: 1,
  idempotency_key: null,
});

for (const mode of dbModes()) {
  describe(`long-poll renewals (${mode})`, () => {
    let db: Db;
    let drop: () => Promise<void>;
    let queue: Queue;
    let dispatcher: LongPollDispatcher;
    let claims: number;

    beforeEach(async () => {
      ({ db, drop } = await createTestDb(mode));
      queue = createQueue(db, { leaseSeconds: 60, notifyDebounceMs: 20 });
      await queue.start();
      const attempts = new Attempts(queue, null);
      const counting = Object.create(attempts) as Attempts;
      claims = 0;
      counting.claim = (...args: Parameters<Attempts['claim']>) => {
        claims++;
        return attempts.claim(...args);
      };
      dispatcher = new LongPollDispatcher(counting, queue, POLL_MS);
      await queue.registerWorker({
        id: W,
        backend_type: 'command',
        capabilities: { max_parallel_tasks: 1, supported_problems: [] },
        metadata: {},
      });
    });
    afterEach(async () => {
      dispatcher.close();
      await queue.stop();
      await drop();
    });

    const claim = (waitMs: number, signal = new AbortController().signal) =>
      dispatcher.claim({ workerId: W, max: 1, llmBaseUrl: '', claimKey: null, waitMs }, signal);
    const lastHeartbeat = async () =>
      (await db.query<{ at: string }>('SELECT last_heartbeat::text AS at FROM workers WHERE id = $1', [W]))
        .rows[0]!.at;

    it('parks a renewal without a claim, records its liveness, and still hands it new work', async () => {
      assert.deepEqual(await claim(50), []);
      assert.equal(claims, 1);
      const before = await lastHeartbeat();
      await new Promise((r) => setTimeout(r, 20));
      // The renewal: nothing arrived since, so no claim; its liveness is written shortly after.
      const renewal = claim(2_000);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(claims, 1);
      assert.notEqual(await lastHeartbeat(), before);
      // A submit wakes the dispatcher, whose pass claims for the parked renewal.
      const [created] = await queue.submit([task()]);
      const got = await renewal;
      assert.deepEqual(
        got.map((t) => t.id),
        [created!.task.id],
      );
      assert.equal(claims, 2);
    });

    it('claims again once a wake-up came between the empty claim and the renewal', async () => {
      assert.deepEqual(await claim(20), []);
      await queue.submit([task()]);
      const got = await claim(2_000);
      assert.equal(got.length, 1);
      assert.equal(claims, 2);
    });

    it('claims again after the worker registers anew (what it may claim can have changed)', async () => {
      assert.deepEqual(await claim(20), []);
      dispatcher.forget(W);
      assert.deepEqual(await claim(20), []);
      assert.equal(claims, 2);
    });

    it('tells a renewal of a worker that is no longer registered WORKER_NOT_FOUND', async () => {
      assert.deepEqual(await claim(20), []);
      await db.query('DELETE FROM workers WHERE id = $1', [W]);
      await assert.rejects(claim(5_000), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'WORKER_NOT_FOUND');
        return true;
      });
      assert.equal(claims, 1);
    });
  });
}
