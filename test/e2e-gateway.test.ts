/**
 * A stock OpenAI-SDK agent, unchanged, run by the command backend of an in-process worker
 * and of a remote worker process: every call it makes goes through the gateway with the
 * task token and lands on the task's conversation; the server's real keys never reach it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dbModes } from './helpers/db.ts';
import { type ServeProcess, startCli, startServe, waitFor } from './helpers/process.ts';

const AGENT = fileURLToPath(new URL('./fixtures/openai-agent.mjs', import.meta.url));
const SERVER_KEYS = {
  OPENAI_API_KEY: 'sk-server-only-e2e-1234567',
  OPENROUTER_API_KEY: 'or-server-only-e2e-7654321',
};

// biome-ignore lint/suspicious/noExplicitAny: response JSON read field by field.
type J = Record<string, any>;

async function json(res: Response): Promise<J> {
  const body = await res.text();
  assert.ok(res.ok, `HTTP ${res.status}: ${body}`);
  return JSON.parse(body) as J;
}

for (const mode of dbModes()) {
  describe(`stock OpenAI agent through the gateway, as processes (${mode})`, () => {
    let serve: ServeProcess;
    let base: string;
    let dataDir: string;

    before(async () => {
      serve = await startServe(mode, {
        NUM_INTERNAL_WORKERS: '1',
        INTERNAL_WORKER_BACKEND: 'command',
        COMMAND_BACKEND_CMD: JSON.stringify([process.execPath, AGENT]),
        ...SERVER_KEYS,
      });
      ({ base, dataDir } = serve);
    });

    after(() => serve?.close());

    async function runTask(body: J): Promise<J> {
      const created = await json(
        await fetch(`${base}/api/v1/tasks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
      );
      return waitFor(async () => {
        const t = await json(await fetch(`${base}/api/v1/tasks/${created.id}`));
        return ['completed', 'failed', 'timeout', 'cancelled'].includes(t.status) && t;
      }, 'the task to finish');
    }

    async function checkRecorded(task: J): Promise<void> {
      assert.equal(task.status, 'completed', JSON.stringify(task.error_details));
      const r = task.result;
      assert.equal(r.key_is_task_token, true, 'the SDK used the task token as its key');
      assert.equal(r.compatible_key_is_task_token, true);
      assert.equal(r.openrouter_key, null, 'server keys never reach the agent');
      assert.match(r.reply, /submit\(/);
      const conversations = await json(
        await fetch(`${base}/api/v1/llm-conversations/task/${task.id}/conversations`),
      );
      assert.equal(conversations.length, 1);
      const conv = conversations[0];
      assert.equal(conv.call_count, r.steps);
      assert.equal(conv.model_name, 'scripted:aiopslab');
      assert.equal(conv.message_count, 2 + 2 * r.steps - 1, 'each message stored once');
      assert.equal(conv.success, true);
      const { calls } = await json(await fetch(`${base}/api/v1/llm-conversations/${conv.id}/calls`));
      assert.ok(
        calls.every((c: J) => c.prefix_consistent && c.end_reason === 'done'),
        'every call extends the last',
      );
      const text = JSON.stringify({ task, conversations, calls });
      for (const key of Object.values(SERVER_KEYS))
        assert.ok(!text.includes(key), 'no server key in any record');
    }

    it('records every call of an agent run by an in-process worker', async () => {
      const task = await runTask({
        problem_id: 'k8s_target_port-misconfig-detection-1',
        parameters: { agent_config: { model: 'scripted:aiopslab' } },
      });
      assert.match(task.result.base_url, /^http:\/\/127\.0\.0\.1:\d+\/llm\/v1$/);
      await checkRecorded(task);
    });

    it('records every call of an agent run by a remote worker process', async () => {
      await json(await fetch(`${base}/api/v1/workers/internal/stop`, { method: 'POST' }));
      const worker = startCli(
        ['worker', '--api-url', base, '--id', 'worker-008-kind', '--backend-type', 'command'],
        { DATA_DIR: dataDir, COMMAND_BACKEND_CMD: JSON.stringify([process.execPath, AGENT]), ...SERVER_KEYS },
      );
      try {
        const task = await runTask({
          problem_id: 'k8s_target_port-misconfig-detection-1',
          backend_type: 'command',
          parameters: { agent_config: { model: 'scripted:aiopslab' } },
        });
        assert.equal(task.worker_id, 'worker-008-kind');
        assert.equal(task.result.base_url, `${base}/llm/v1`, 'the address the worker reached the API at');
        await checkRecorded(task);
      } finally {
        await worker.stop('SIGTERM');
      }
    });
  });
}
