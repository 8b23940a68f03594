import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { groupId } from '../src/queue/experiments.ts';
import { type Body, createTestApp, json, registerWorker, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const MONGO = 'sandbox-revoke_auth_mongodb-*';

for (const mode of dbModes()) {
  describe(`experiments API (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode, { env: { DEFAULT_AGENT_MODEL: 'model-x' } });
    });
    afterEach(() => t.close());

    const post = (url: string, payload?: unknown) =>
      t.inject({ method: 'POST', url, ...(payload === undefined ? {} : { payload: payload as Body }) });
    const get = async (url: string) => {
      const res = await t.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, res.body);
      return json<Body>(res);
    };
    const create = async (body: Body) => {
      const res = await post('/api/v1/experiments', body);
      assert.equal(res.statusCode, 201, res.body);
      return json<Body>(res);
    };
    const tasksOf = async (experimentId: string) =>
      (await get(`/api/v1/tasks?experiment_id=${experimentId}&page_size=1000`)).tasks as Body[];

    it('expands problems × agent configs × K into tasks; the K repetitions share a group', async () => {
      const exp = await create({
        name: 'grpo-step-1',
        problems: [MONGO],
        backend_type: 'sandbox',
        agent_configs: [{ model: 'a', temperature: 1 }, { model: 'b' }],
        repetitions: 3,
        policy_version: 7,
        labels: { run: 'r1' },
      });
      assert.equal(exp.task_count, 8 * 2 * 3);
      assert.equal(exp.group_count, 16);
      assert.equal(exp.progress.by_status.pending, 48);
      assert.equal(exp.progress.groups_total, 16);
      assert.equal(exp.progress.groups_complete, 0);
      assert.equal(exp.status, 'pending');
      const tasks = await tasksOf(exp.id);
      assert.equal(tasks.length, 48);
      const groups = new Map<string, Body[]>();
      for (const task of tasks) {
        assert.equal(task.experiment_id, exp.id);
        assert.equal(task.policy_version, 7);
        assert.equal(task.backend_type, 'sandbox');
        assert.deepEqual(task.labels, { run: 'r1' });
        groups.set(task.group_id, [...(groups.get(task.group_id) ?? []), task]);
      }
      assert.equal(groups.size, 16);
      for (const members of groups.values()) {
        assert.deepEqual(members.map((m) => m.repetition).sort(), [0, 1, 2]);
        assert.equal(new Set(members.map((m) => m.problem_id)).size, 1);
        assert.equal(new Set(members.map((m) => JSON.stringify(m.parameters.agent_config))).size, 1);
      }
      // Same problem under two configs: two groups; the id is recomputable from the cell.
      const p = 'sandbox-revoke_auth_mongodb-detection-1';
      const ofProblem = tasks.filter((x) => x.problem_id === p);
      assert.equal(new Set(ofProblem.map((x) => x.group_id)).size, 2);
      const configA = ofProblem.find((x) => x.parameters.agent_config.model === 'a')!;
      assert.equal(configA.group_id, groupId(exp.id, p, 0));
      assert.equal(configA.parameters.agent_config.temperature, 1);
      // The group filter reads one group.
      const one = await get(`/api/v1/tasks?group_id=${configA.group_id}`);
      assert.equal(one.total, 3);
    });

    it('is idempotent with a key: a retried create returns the first experiment and adds no task', async () => {
      const body = { name: 'retry', problems: [MONGO], agent_configs: [{}], repetitions: 2 };
      const first = await t.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        payload: body,
        headers: { 'idempotency-key': 'step-7' },
      });
      assert.equal(first.statusCode, 201, first.body);
      const again = await post('/api/v1/experiments', { ...body, idempotency_key: 'step-7' });
      assert.equal(again.statusCode, 200, again.body);
      assert.equal(json<Body>(again).id, json<Body>(first).id);
      assert.equal(json<Body>(again).idempotency_key, 'step-7');
      const all = await get('/api/v1/tasks?page_size=1000');
      assert.equal(all.total, json<Body>(first).task_count);
      const clash = await t.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        payload: { ...body, idempotency_key: 'a' },
        headers: { 'idempotency-key': 'b' },
      });
      assert.equal(clash.statusCode, 422);
    });

    it('resolves a task-type/backend filter against the catalogue', async () => {
      const exp = await create({
        name: 'detections',
        problems: { task_type: 'detection', backend: 'sandbox' },
        agent_configs: [{}],
        repetitions: 2,
      });
      assert.equal(exp.group_count, 10);
      const tasks = await tasksOf(exp.id);
      assert.equal(tasks.length, 20);
      assert.ok(tasks.every((x) => x.problem_id.includes('detection')));
      assert.ok(tasks.every((x) => x.parameters.agent_config.model === 'model-x'));
      // Plain ids pass through as given, beside globs.
      const mixed = await create({
        name: 'mixed',
        problems: ['p-plain', 'sandbox-k8s_target_port-misconfig-detection-?'],
        agent_configs: [{}],
        repetitions: 1,
      });
      assert.deepEqual(mixed.spec.problems, [
        'p-plain',
        'sandbox-k8s_target_port-misconfig-detection-1',
        'sandbox-k8s_target_port-misconfig-detection-2',
        'sandbox-k8s_target_port-misconfig-detection-3',
      ]);
    });

    it('refuses a glob that matches nothing, and a grid over the cap, creating nothing', async () => {
      const glob = await post('/api/v1/experiments', {
        name: 'x',
        problems: ['p-1', 'nothing-like-this-*'],
        agent_configs: [{}],
        repetitions: 1,
      });
      assert.equal(glob.statusCode, 422);
      assert.match(json<Body>(glob).error, /nothing-like-this-\*/);
      const big = await post('/api/v1/experiments', {
        name: 'x',
        problems: { backend: 'sandbox' },
        agent_configs: [{}, {}],
        repetitions: 200,
      });
      assert.equal(big.statusCode, 422);
      assert.equal(json<Body>(big).details.errors[0].tasks, 34 * 2 * 200);
      const unknown = await post('/api/v1/experiments', {
        name: 'x',
        problems: ['not-a-sandbox-problem'],
        backend_type: 'sandbox',
        agent_configs: [{}],
        repetitions: 1,
      });
      assert.equal(unknown.statusCode, 422);
      assert.equal((await get('/api/v1/experiments')).total, 0);
      assert.equal((await get('/api/v1/tasks')).total, 0);
    });

    it('a failing expansion creates neither the experiment nor any task (one transaction)', async () => {
      const task = {
        problem_id: 'p',
        priority: 5,
        backend_type: null,
        parameters: { max_steps: 1, timeout_minutes: 1, agent_config: {} },
        max_attempts: 1,
        idempotency_key: null,
      };
      await assert.rejects(
        t.queue.createExperiment({
          name: 'broken',
          spec: {},
          // The second cell breaks tasks_priority_check after the experiment row was written.
          cells: [
            { problem_id: 'p', config_index: 0, task },
            { problem_id: 'p', config_index: 1, task: { ...task, priority: 11 } },
          ],
          repetitions: 2,
          created_by: 'test',
        }),
      );
      const { rows } = await t.db.query<{ e: number; t: number }>(
        'SELECT (SELECT count(*)::int FROM experiments) AS e, (SELECT count(*)::int FROM tasks) AS t',
      );
      assert.deepEqual(rows[0], { e: 0, t: 0 });
    });

    it('shows progress: counts, success rate, groups complete, tokens, cost, wall time', async () => {
      const exp = await create({ name: 'p', problems: ['p-a', 'p-b'], agent_configs: [{}], repetitions: 2 });
      await registerWorker(t, 'worker-001-kind', { capabilities: { max_parallel_tasks: 10 } });
      const claimed = await t.queue.claim('worker-001-kind', 3);
      assert.equal(claimed.length, 3);
      // Claims follow submit order: both repetitions of p-a, then one of p-b.
      const [a0, a1, b0] = claimed as unknown as [Body, Body, Body];
      assert.equal(a0.group_id, a1.group_id);
      await t.queue.complete('worker-001-kind', a0.id, a0.attempt, { task_type: 'detection', results: {} });
      await t.queue.fail('worker-001-kind', a1.id, a1.attempt, { reason: 'boom', message: 'boom' });
      await t.db.query(
        `INSERT INTO llm_conversations (task_id, attempt, conversation_key, prompt_tokens, completion_tokens, total_tokens, cost)
         VALUES ($1, 1, 'default', 100, 20, 120, 0.5), ($2, 1, 'default', 10, 5, 15, 0.25)`,
        [a0.id, b0.id],
      );
      const p = (await get(`/api/v1/experiments/${exp.id}`)).progress;
      assert.equal(p.by_status.completed, 1);
      assert.equal(p.by_status.failed, 1);
      assert.equal(p.by_status.running, 1);
      assert.equal(p.by_status.pending, 1);
      assert.equal(p.success_rate, 0.5);
      assert.equal(p.groups_total, 2);
      assert.equal(p.groups_complete, 1);
      assert.equal(p.prompt_tokens, 110);
      assert.equal(p.completion_tokens, 25);
      assert.equal(p.total_tokens, 135);
      assert.equal(p.cost, 0.75);
      assert.ok(p.first_started_at !== null && p.last_completed_at !== null);
      assert.ok(p.wall_seconds >= 0);
      const list = await get('/api/v1/experiments');
      assert.equal(list.total, 1);
      assert.equal(list.experiments[0].id, exp.id);
      assert.equal(list.experiments[0].status, 'running');
    });

    it('cancel ends pending tasks at once and asks running ones to stop', async () => {
      const exp = await create({ name: 'c', problems: ['p-a'], agent_configs: [{}], repetitions: 3 });
      const other = await create({ name: 'other', problems: ['p-a'], agent_configs: [{}], repetitions: 1 });
      await registerWorker(t);
      const [running] = await t.queue.claim('worker-001-kind', 1);
      const res = await post(`/api/v1/experiments/${exp.id}/cancel`);
      assert.equal(res.statusCode, 200, res.body);
      const body = json<Body>(res);
      assert.equal(body.cancelled, 2);
      assert.equal(body.cancel_requested, 1);
      assert.equal(body.experiment.status, 'cancelled');
      assert.equal(body.experiment.progress.by_status.cancelled, 2);
      const task = await get(`/api/v1/tasks/${running!.id}`);
      assert.equal(task.status, 'running');
      assert.equal(task.cancel_requested, true);
      // The other experiment is untouched; a repeated cancel changes nothing more.
      assert.equal((await get(`/api/v1/experiments/${other.id}`)).progress.by_status.pending, 1);
      const again = json<Body>(await post(`/api/v1/experiments/${exp.id}/cancel`));
      assert.equal(again.cancelled, 0);
      const missing = await post('/api/v1/experiments/00000000-0000-4000-8000-000000000000/cancel');
      assert.equal(missing.statusCode, 404);
      assert.equal(json<Body>(missing).code, 'EXPERIMENT_NOT_FOUND');
    });

    it('policy_version is stored from the top level or parameters and filterable by value and range', async () => {
      for (const [i, body] of [
        { problem_id: 'p', policy_version: 1 },
        { problem_id: 'p', parameters: { policy_version: 5 } },
        { problem_id: 'p', policy_version: 10 },
        { problem_id: 'p' },
      ].entries()) {
        const res = await post('/api/v1/tasks', body);
        assert.equal(res.statusCode, 201, `${i}: ${res.body}`);
      }
      const versions = async (q: string) =>
        ((await get(`/api/v1/tasks?${q}`)).tasks as Body[])
          .map((x) => x.policy_version)
          .sort((a, b) => a - b);
      assert.deepEqual(await versions('policy_version=5'), [5]);
      assert.deepEqual(await versions('policy_version_min=5'), [5, 10]);
      assert.deepEqual(await versions('policy_version_max=5'), [1, 5]);
      assert.deepEqual(await versions('policy_version_min=2&policy_version_max=10'), [5, 10]);
      assert.equal((await get('/api/v1/tasks?policy_version_min=2')).total, 2);
      assert.deepEqual(
        await versions(''),
        [1, 5, 10, null].sort((a, b) => (a ?? -1) - (b ?? -1)),
      );
      const bad = await post('/api/v1/tasks', { problem_id: 'p', policy_version: -1 });
      assert.equal(bad.statusCode, 422);
    });
  });
}
