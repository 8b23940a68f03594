/**
 * The trajectory feed over a real HTTP server: one `trajectory` per finished task, one
 * `group.completed` per group, `reward.updated`, resume by Last-Event-ID and ?after= with the
 * full sequence compared against the database, and the filters.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type Body, createTestApp, json, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker } from './helpers/queue-fixtures.ts';
import { openSse, type SseEvent } from './helpers/sse.ts';

const DETECTION = 'sandbox-revoke_auth_mongodb-detection-1';

for (const mode of dbModes()) {
  describe(`trajectory stream (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode, {
        listen: true,
        env: { DEFAULT_AGENT_MODEL: 'model-x', FEED_POLL_MS: '20' },
      });
      await addWorker(t.queue, 'worker-001-sandbox', { max_parallel: 50 });
    });
    afterEach(() => t.close());

    const createExperiment = async (body: Body) => {
      const res = await t.inject({ method: 'POST', url: '/api/v1/experiments', payload: body });
      assert.equal(res.statusCode, 201, res.body);
      return json<Body>(res);
    };
    /** Claims and finishes `n` tasks: completed with a detection result, or failed. */
    const finish = async (n: number, outcome: 'completed' | 'failed' = 'completed') => {
      const claimed = await t.queue.claim('worker-001-sandbox', n);
      await Promise.all(
        claimed.map((task) =>
          outcome === 'completed'
            ? t.queue.complete('worker-001-sandbox', task.id, task.attempt, {
                task_type: 'detection',
                results: { 'Detection Accuracy': 'Correct' },
              })
            : t.queue.fail('worker-001-sandbox', task.id, task.attempt, { reason: 'boom', message: 'boom' }),
        ),
      );
      return claimed;
    };
    /** The feed as the database holds it: (cursor, kind, task, group) in cursor order. */
    const feedInDb = async (experimentId: string) =>
      (
        await t.db.query<Body>(
          `SELECT txid::text || '-' || id AS cursor, kind, task_id, group_id, status FROM feed_events
           WHERE experiment_id = $1 ORDER BY txid, id`,
          [experimentId],
        )
      ).rows;
    const expectedStream = (rows: Body[]) =>
      rows
        .filter(
          (r) =>
            r.kind !== 'task.status' || ['completed', 'failed', 'timeout', 'cancelled'].includes(r.status),
        )
        .map((r) => r.cursor);

    it('sends each finished task once, then group.completed once per group, with database cursors', async () => {
      const exp = await createExperiment({
        name: 'e',
        problems: [DETECTION],
        backend_type: 'sandbox',
        agent_configs: [{ model: 'a' }, { model: 'b' }],
        repetitions: 3,
        policy_version: 4,
      });
      const sse = await openSse(`${t.url}/api/v1/trajectories/stream?experiment_id=${exp.id}`);
      assert.equal(sse.status, 200);
      await finish(4);
      await finish(2, 'failed');
      const events = await sse.until((e) => e.filter((x) => x.event === 'group.completed').length === 2);
      sse.close();
      const trajectories = events.filter((e) => e.event === 'trajectory');
      assert.equal(trajectories.length, 6);
      assert.equal(new Set(trajectories.map((e) => e.data.task.id)).size, 6);
      for (const e of trajectories) {
        assert.equal(e.id, e.data.cursor);
        assert.equal(e.data.task.experiment_id, exp.id);
        assert.equal(e.data.task.policy_version, 4);
        assert.ok(Array.isArray(e.data.conversations));
        if (e.data.task.status === 'completed') assert.equal(e.data.task.reward, 1);
        else assert.match(e.data.task.reward_reason, /task is failed: boom/);
      }
      const groups = events.filter((e) => e.event === 'group.completed');
      for (const g of groups) {
        assert.equal(g.data.size, 3);
        assert.equal(g.data.tasks.length, 3);
        assert.deepEqual(
          g.data.tasks.map((m: Body) => m.repetition),
          [0, 1, 2],
        );
        // The group comes after every one of its trajectories.
        const last = Math.max(
          ...trajectories
            .filter((e) => e.data.task.group_id === g.data.group_id)
            .map((e) => events.indexOf(e)),
        );
        assert.ok(events.indexOf(g) > last);
      }
      assert.deepEqual(
        events.map((e) => e.id),
        expectedStream(await feedInDb(exp.id)),
      );
    });

    it('resumes after a disconnect with Last-Event-ID and with ?after=, nothing lost or repeated', async () => {
      const exp = await createExperiment({
        name: 'resume',
        problems: [DETECTION],
        backend_type: 'sandbox',
        agent_configs: [{}],
        repetitions: 12,
      });
      const first = await openSse(`${t.url}/api/v1/trajectories/stream?experiment_id=${exp.id}`);
      await finish(5);
      await first.until((e) => e.length >= 5);
      first.close();
      const seen: SseEvent[] = [...first.events];
      // Finished while nobody listened.
      await finish(4);
      const second = await openSse(`${t.url}/api/v1/trajectories/stream?experiment_id=${exp.id}`, {
        'last-event-id': seen.at(-1)!.id!,
      });
      await second.until((e) => e.length >= 4);
      second.close();
      seen.push(...second.events);
      await finish(3);
      const third = await openSse(
        `${t.url}/api/v1/trajectories/stream?experiment_id=${exp.id}&after=${seen.at(-1)!.id}`,
      );
      await third.until((e) => e.some((x) => x.event === 'group.completed'));
      third.close();
      seen.push(...third.events);
      assert.deepEqual(
        seen.map((e) => e.id),
        expectedStream(await feedInDb(exp.id)),
      );
      assert.equal(seen.filter((e) => e.event === 'trajectory').length, 12);
    });

    it('sends reward.updated for a reward written later, and filters by status and label', async () => {
      const exp = await createExperiment({
        name: 'rewards',
        problems: [DETECTION],
        backend_type: 'sandbox',
        agent_configs: [{}],
        repetitions: 2,
        labels: { run: 'x' },
      });
      const failedOnly = await openSse(
        `${t.url}/api/v1/trajectories/stream?experiment_id=${exp.id}&status=failed`,
      );
      const otherLabel = await openSse(`${t.url}/api/v1/trajectories/stream?after=0&label=run=y`);
      const all = await openSse(
        `${t.url}/api/v1/trajectories/stream?label=run=x&after=0&conversation=compact`,
      );
      const [done] = await finish(1);
      await finish(1, 'failed');
      const res = await t.inject({
        method: 'POST',
        url: `/api/v1/tasks/${done!.id}/rewards`,
        payload: { name: 'judge', value: 0.25 },
      });
      assert.equal(res.statusCode, 201, res.body);
      const events = await all.until((e) => e.some((x) => x.event === 'reward.updated'));
      assert.deepEqual(
        events.map((e) => e.event),
        ['trajectory', 'trajectory', 'group.completed', 'reward.updated'],
      );
      const reward = events.at(-1)!.data;
      assert.equal(reward.task_id, done!.id);
      assert.equal(reward.reward.name, 'judge');
      assert.equal(reward.reward.value, 0.25);
      const failed = await failedOnly.until((e) => e.some((x) => x.event === 'reward.updated'));
      assert.deepEqual(
        failed.filter((e) => e.event === 'trajectory').map((e) => e.data.task.status),
        ['failed'],
      );
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(otherLabel.events.length, 0);
      for (const s of [failedOnly, otherLabel, all]) s.close();
    });

    it('sends keepalive comments on an idle stream', async () => {
      const quiet = await createTestApp(mode, { listen: true, env: { FEED_HEARTBEAT_SECONDS: '1' } });
      try {
        const sse = await openSse(`${quiet.url}/api/v1/trajectories/stream`);
        const deadline = Date.now() + 10_000;
        while (!sse.comments.includes('keepalive') && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        sse.close();
        assert.ok(sse.comments.includes('keepalive'), `comments: ${JSON.stringify(sse.comments)}`);
        assert.equal(sse.events.length, 0);
      } finally {
        await quiet.close();
      }
    });

    it('refuses a cursor it did not write with a 422', async () => {
      const res = await fetch(`${t.url}/api/v1/trajectories/stream`, {
        headers: { 'last-event-id': 'bogus' },
      });
      assert.equal(res.status, 422);
      const bad = await fetch(`${t.url}/api/v1/events?after=12`);
      assert.equal(bad.status, 422);
    });
  });
}
