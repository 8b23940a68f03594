import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { defaultReward } from '../src/queue/rewards.ts';
import type { Json } from '../src/queue/types.ts';
import { type Body, createTestApp, json, registerWorker, submitTask, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const completed = (result: Json) => ({ status: 'completed' as const, result, error_details: null });

describe('default reward per task type', () => {
  it('detection: Correct → 1, anything else → 0', () => {
    const r = (v: string) =>
      defaultReward(completed({ task_type: 'detection', results: { 'Detection Accuracy': v } }));
    assert.equal(r('Correct').reward, 1);
    assert.equal(r('Incorrect').reward, 0);
    assert.equal(r('Invalid Format').reward, 0);
  });
  it('localization: accuracy / 100, else success', () => {
    const r = (results: Json) => defaultReward(completed({ task_type: 'localization', results })).reward;
    assert.equal(r({ 'Localization Accuracy': 100, success: true }), 1);
    assert.equal(r({ 'Localization Accuracy': 50, success: false }), 0.5);
    assert.equal(r({ success: true }), 1);
    assert.equal(r({ success: false }), 0);
  });
  it('analysis: (system_level_correct + fault_type_correct) / 2', () => {
    const r = (s: boolean, f: boolean) =>
      defaultReward(
        completed({ task_type: 'analysis', results: { system_level_correct: s, fault_type_correct: f } }),
      ).reward;
    assert.equal(r(true, true), 1);
    assert.equal(r(true, false), 0.5);
    assert.equal(r(false, false), 0);
  });
  it('mitigation: success → 1 else 0', () => {
    const r = (success: boolean) =>
      defaultReward(completed({ task_type: 'mitigation', results: { success } })).reward;
    assert.equal(r(true), 1);
    assert.equal(r(false), 0);
  });
  it('a task that did not complete, or has no evaluation, has none and says why', () => {
    for (const status of ['failed', 'timeout', 'cancelled', 'running'] as const) {
      const d = defaultReward({ status, result: null, error_details: 'it broke' });
      assert.equal(d.reward, null);
      assert.match(d.reward_reason, new RegExp(`task is ${status}: it broke`));
    }
    assert.equal(defaultReward(completed({ ok: true })).reward, null);
    assert.match(
      defaultReward(completed({ task_type: 'detection', results: {} })).reward_reason,
      /no detection score/,
    );
  });
});

for (const mode of dbModes()) {
  describe(`rewards API (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode);
    });
    afterEach(() => t.close());

    const get = async (url: string) => {
      const res = await t.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, res.body);
      return json<Body>(res);
    };
    const postReward = (id: string, payload: Body) =>
      t.inject({ method: 'POST', url: `/api/v1/tasks/${id}/rewards`, payload });

    it('serves the default reward on a finished task from its stored evaluation', async () => {
      await registerWorker(t, 'worker-001-kind', { capabilities: { max_parallel_tasks: 2 } });
      const a = await submitTask(t, { problem_id: 'p-analysis' });
      const b = await submitTask(t, { problem_id: 'p-failed' });
      const [ca, cb] = await t.queue.claim('worker-001-kind', 2);
      await t.queue.complete('worker-001-kind', ca!.id, ca!.attempt, {
        task_type: 'analysis',
        results: { system_level_correct: true, fault_type_correct: false, success: false },
      });
      await t.queue.fail('worker-001-kind', cb!.id, cb!.attempt, {
        reason: 'crash',
        message: 'agent crashed',
      });
      const ta = await get(`/api/v1/tasks/${a.id}`);
      assert.equal(ta.reward, 0.5);
      assert.match(ta.reward_reason, /analysis/);
      const tb = await get(`/api/v1/tasks/${b.id}`);
      assert.equal(tb.reward, null);
      assert.equal(tb.reward_reason, 'task is failed: agent crashed');
      const listed = await get('/api/v1/tasks?status=completed');
      assert.equal(listed.tasks[0].reward, 0.5);
    });

    it('appends named rewards with their history and writer; earlier entries never change', async () => {
      const task = await submitTask(t);
      const first = await postReward(task.id, { name: 'judge', value: 0.25, details: { by: 'gpt' } });
      assert.equal(first.statusCode, 201, first.body);
      const second = await postReward(task.id, { name: 'judge', value: 0.75 });
      assert.equal(second.statusCode, 201);
      await postReward(task.id, { name: 'length', value: -3 });
      const h = await get(`/api/v1/tasks/${task.id}/rewards`);
      assert.equal(h.reward, null);
      assert.equal(h.reward_reason, 'task is pending');
      assert.deepEqual(
        h.rewards.map((r: Body) => [r.name, r.value, r.written_by]),
        [
          ['judge', 0.25, 'anonymous'],
          ['judge', 0.75, 'anonymous'],
          ['length', -3, 'anonymous'],
        ],
      );
      assert.deepEqual(h.rewards[0].details, { by: 'gpt' });
      assert.ok(h.rewards[0].id < h.rewards[1].id && h.rewards[1].id < h.rewards[2].id);
      const judge = await get(`/api/v1/tasks/${task.id}/rewards?name=judge`);
      assert.equal(judge.rewards.length, 2);
      const missing = await postReward('00000000-0000-4000-8000-000000000000', { name: 'x', value: 1 });
      assert.equal(missing.statusCode, 404);
      const bad = await postReward(task.id, { name: 'x', value: 'high' });
      assert.equal(bad.statusCode, 422);
    });

    it('records who wrote a reward by the token’s role', async () => {
      await t.close();
      t = await createTestApp(mode, {
        env: { API_TOKENS: 'client:client-secret-0123456789,admin:admin-secret-0123456789' },
      });
      const auth = (tok: string) => ({ authorization: `Bearer ${tok}` });
      const sub = await t.inject({
        method: 'POST',
        url: '/api/v1/tasks',
        payload: { problem_id: 'p' },
        headers: auth('client-secret-0123456789'),
      });
      const id = json<Body>(sub).id;
      for (const tok of ['client-secret-0123456789', 'admin-secret-0123456789']) {
        const res = await t.inject({
          method: 'POST',
          url: `/api/v1/tasks/${id}/rewards`,
          payload: { name: 'r', value: 1 },
          headers: auth(tok),
        });
        assert.equal(res.statusCode, 201, res.body);
      }
      const res = await t.inject({
        method: 'GET',
        url: `/api/v1/tasks/${id}/rewards`,
        headers: auth('client-secret-0123456789'),
      });
      assert.deepEqual(
        json<Body>(res).rewards.map((r: Body) => r.written_by),
        ['client', 'admin'],
      );
    });
  });
}
