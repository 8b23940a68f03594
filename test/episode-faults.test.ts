/**
 * Episodes when things go wrong, on a real server in this process (HTTP, in-process sandbox
 * worker, gateway, queue, reaper) with a fake upstream model on loopback: transient LLM errors
 * retried and recorded, errors that exhaust the retries or cannot pass, cancel and deadline
 * in the middle of an LLM call.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { type RunningServer, startServer } from '../src/server/compose.ts';
import { type FakeLlm, startFakeLlm } from './fixtures/fake-llm.ts';
import { createTestDb, dbModes, type TestDb } from './helpers/db.ts';
import { type J, json, post, waitForTasks } from './helpers/episodes.ts';
import { waitFor } from './helpers/process.ts';

const PROBLEM = 'sandbox-k8s_target_port-misconfig-detection-1';

for (const mode of dbModes()) {
  describe(`episode faults (${mode})`, () => {
    let fake: FakeLlm;
    let server: RunningServer;
    let base: string;
    let dataDir: string;
    let pgDb: TestDb | undefined;

    before(async () => {
      fake = await startFakeLlm();
      dataDir = mkdtempSync(join(tmpdir(), 'te-episode-faults-'));
      if (mode === 'postgres') {
        pgDb = await createTestDb('postgres');
        await pgDb.db.close();
      }
      server = await startServer(
        loadConfig({
          PORT: '0',
          LOG_LEVEL: 'silent',
          DATA_DIR: dataDir,
          DATABASE_URL: pgDb?.url ?? '',
          INTERNAL_WORKER_BACKENDS: 'sandbox:1',
          INTERNAL_WORKER_MAX_PARALLEL: '4',
          HEARTBEAT_INTERVAL: '1',
          TIMEOUT_CHECK_INTERVAL: '1',
          AGENT_LLM_RETRIES: '3',
          AGENT_LLM_RETRY_BACKOFF_MS: '10',
          LLM_UPSTREAMS: JSON.stringify({ fake: { base_url: fake.url, models: ['fake-*'] } }),
        }),
      );
      base = server.url;
    });

    after(async () => {
      await server?.close();
      await fake?.close();
      rmSync(dataDir, { recursive: true, force: true });
      await pgDb?.drop().catch(() => {});
    });

    async function submit(model: string, extra: J = {}): Promise<J> {
      return json(
        await post(base, '/api/v1/tasks', { problem_id: PROBLEM, agent_config: { model }, ...extra }),
      );
    }

    async function calls(task: J): Promise<J[]> {
      const list = (await json(
        await fetch(`${base}/api/v1/llm-conversations/task/${task.id}/conversations`),
      )) as J[];
      const out: J[] = [];
      for (const c of list) {
        const page = await json(await fetch(`${base}/api/v1/llm-conversations/${c.id}/calls?limit=1000`));
        out.push(...page.calls);
      }
      return out;
    }

    /** Waits until the task runs and its first model call is waiting at the fake upstream. */
    async function inFlight(task: J, model: string): Promise<void> {
      await waitFor(
        async () => fake.requests.some((r) => r.body?.model === model),
        'the model call to reach the upstream',
      );
      const t = await json(await fetch(`${base}/api/v1/tasks/${task.id}`));
      assert.equal(t.status, 'running');
    }

    it('retries transient upstream errors, records every try, and goes on', async () => {
      const model = 'fake-flaky-2-503';
      const [t] = await waitForTasks(base, [(await submit(model, { max_steps: 1 })).id]);
      assert.equal(t!.status, 'completed', JSON.stringify(t!.error_details));
      assert.equal(t!.result.usage.llm_retries, 2);
      assert.equal(t!.result.end_reason, 'max_steps');
      const recorded = await calls(t!);
      assert.deepEqual(
        recorded.map((c) => c.status),
        [503, 503, 200],
      );
    });

    it('fails with llm_error once retries are used up, and the queue retries the task while attempts remain', async () => {
      const [t] = await waitForTasks(base, [(await submit('fake-error-500', { max_attempts: 2 })).id]);
      assert.equal(t!.status, 'failed');
      assert.equal(t!.error_info.reason, 'llm_error');
      assert.equal(t!.error_info.llm_error.status, 500);
      assert.equal(t!.attempt, 2, 'a transient failure is retryable');
      assert.equal((await calls(t!)).length, 8, '1 try + 3 retries, per attempt');
    });

    it('does not retry an error that cannot pass', async () => {
      const [t] = await waitForTasks(base, [(await submit('fake-error-400', { max_attempts: 2 })).id]);
      assert.equal(t!.status, 'failed');
      assert.equal(t!.error_info.reason, 'llm_error');
      assert.equal(t!.attempt, 1);
      assert.equal((await calls(t!)).length, 1);
    });

    it('cancel stops the episode during a model call; the call is cut and recorded', async () => {
      const model = 'fake-slow-4000';
      const task = await submit(model);
      await inFlight(task, model);
      await json(await post(base, `/api/v1/tasks/${task.id}/cancel`, {}));
      const [t] = await waitForTasks(base, [task.id]);
      assert.equal(t!.status, 'cancelled');
      const recorded = await waitFor(async () => {
        const c = await calls(t!);
        return c.length > 0 && c;
      }, 'the cut call to be recorded');
      assert.notEqual(recorded[0]!.end_reason, 'done');
    });

    it('a deadline stops the episode during a model call and the task times out', async () => {
      const model = 'fake-slow-4500';
      const task = await submit(model);
      await inFlight(task, model);
      await server.queue.db.query('UPDATE tasks SET deadline_at = now() WHERE id = $1', [task.id]);
      const [t] = await waitForTasks(base, [task.id]);
      assert.equal(t!.status, 'timeout');
    });
  });
}
