/** policy_version reaches each recorded LLM call; the CLI's experiment commands against a real server. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createClient } from '../src/cli/client.ts';
import { experimentBody, progressLine, watchExperiment } from '../src/cli/experiment.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import {
  claimTask,
  type GatewayHarness,
  startHarness,
  user,
  viaGateway,
  waitForCalls,
} from './helpers/gateway.ts';

for (const mode of dbModes()) {
  describe(`policy_version on LLM calls (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

    it('records the task’s policy_version on each of its calls', async () => {
      const c = await claimTask(h.t, { problem_id: 'p-1', policy_version: 42 });
      assert.equal(c.task.policy_version, 42);
      const r = await viaGateway(c, { model: 'fake-chat', messages: [user('Hi')] });
      assert.equal(r.status, 200, r.text);
      await waitForCalls(h.t, c.task.id, 1);
      const { rows } = await h.t.db.query<{ policy_version: string | number | null }>(
        'SELECT policy_version FROM llm_calls WHERE task_id = $1',
        [c.task.id],
      );
      assert.deepEqual(
        rows.map((x) => Number(x.policy_version)),
        [42],
      );
      // Filterable and shown on the conversation and call endpoints too.
      const list = async (q: string) =>
        JSON.parse((await h.t.inject({ method: 'GET', url: `/api/v1/llm-conversations?${q}` })).body);
      const inRange = await list('policy_version_min=42&policy_version_max=50');
      assert.equal(inRange.total, 1);
      assert.equal(inRange.conversations[0].policy_version, 42);
      assert.equal((await list('policy_version_max=41')).total, 0);
      const calls = JSON.parse(
        (
          await h.t.inject({
            method: 'GET',
            url: `/api/v1/llm-conversations/${inRange.conversations[0].id}/calls`,
          })
        ).body,
      );
      assert.equal(calls.calls[0].policy_version, 42);
    });
  });

  describe(`experiment CLI (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode, { listen: true });
    });
    afterEach(() => t.close());

    it('creates from flags, shows progress, and cancels', async () => {
      const api = createClient(t.url);
      const body = experimentBody({
        name: 'cli',
        problems: 'p-a,p-b',
        model: ['m1', 'm2'],
        agentConfig: [],
        temperature: 0.7,
        repetitions: 2,
        label: ['run=1'],
        policyVersion: 3,
      });
      assert.deepEqual(body.agent_configs, [
        { model: 'm1', temperature: 0.7 },
        { model: 'm2', temperature: 0.7 },
      ]);
      const e = await api.post<{ id: string; task_count: number }>('/api/v1/experiments', body);
      assert.equal(e.task_count, 8);
      const lines: string[] = [];
      const seen = await watchExperiment(
        api,
        e.id,
        { watch: false, intervalMs: 10, timeoutSeconds: 1 },
        (l) => lines.push(l),
      );
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /^cli \[pending\] 0\/8 done \(pending 8,.*groups 0\/4/);
      await api.post(`/api/v1/experiments/${e.id}/cancel`);
      // Watching a finished experiment returns at once with the final reading.
      const done = await watchExperiment(
        api,
        e.id,
        { watch: true, intervalMs: 10, timeoutSeconds: 5 },
        () => {},
      );
      assert.equal(done.status, 'cancelled');
      assert.equal(done.progress.by_status.cancelled, 8);
      assert.notEqual(progressLine(done), progressLine(seen));
    });
  });
}
