/** Over real HTTP on 127.0.0.1: the seed README's quick start, and the claim long-poll. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Body, createTestApp, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const W = 'worker-001-kind';

for (const mode of dbModes()) {
  describe(`end to end over HTTP (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      // A poll interval far beyond the waits below: only a wake-up can explain a quick claim.
      t = await createTestApp(mode, { listen: true, env: { WORKER_POLL_INTERVAL: '60' } });
    });
    afterEach(() => t.close());

    async function call(method: string, path: string, body?: unknown, signal?: AbortSignal) {
      const res = await fetch(`${t.url}${path}`, {
        method,
        signal,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: JSON.parse(text) as Body | null, headers: res.headers };
    }

    it('runs the seed quick start: submit, register, heartbeat, claim, logs, complete, read back', async () => {
      const submitted = await call('POST', '/api/v1/tasks', {
        problem_id: 'k8s_target_port-misconfig-detection-1',
        parameters: { backend_type: 'orchestrator', max_steps: 25, agent_config: { model: 'gpt-5-mini' } },
      });
      assert.equal(submitted.status, 201);
      const taskId = submitted.body!.id as string;

      const reg = await call('POST', '/api/v1/workers/register', {
        worker_id: W,
        backend_type: 'orchestrator',
        capabilities: { max_parallel_tasks: 1, supported_problems: ['k8s_*'] },
      });
      assert.equal(reg.status, 201);
      assert.equal((await call('POST', `/api/v1/workers/${W}/heartbeat`, { status: 'idle' })).status, 200);

      const claimed = await call('POST', `/api/v1/workers/${W}/claim`, { worker_id: W });
      assert.equal(claimed.body!.id, taskId);
      assert.equal(claimed.body!.attempt, 1);
      assert.equal(claimed.body!.parameters.max_steps, 25);

      const hb = await call('POST', `/api/v1/workers/${W}/heartbeat`, {
        status: 'busy',
        current_task_id: taskId,
      });
      assert.deepEqual(hb.body!.extended, [{ task_id: taskId, attempt: 1 }]);

      const logs = await call('POST', `/api/v1/workers/${W}/tasks/${taskId}/logs`, {
        attempt: 1,
        logs: [
          { level: 'info', message: 'started', context: { step: 0 } },
          { level: 'info', message: 'submitted diagnosis', context: { step: 3, action: 'submit' } },
        ],
      });
      assert.deepEqual(logs.body, { accepted: 2 });

      const done = await call('POST', `/api/v1/workers/${W}/tasks/${taskId}/complete`, {
        worker_id: W,
        result: { success: true, steps: 3 },
      });
      assert.equal(done.status, 200);

      const task = await call('GET', `/api/v1/tasks/${taskId}`);
      assert.equal(task.body!.status, 'completed');
      assert.deepEqual(task.body!.result, { success: true, steps: 3 });
      assert.equal(task.body!.worker_id, W);
      const read = await call('GET', `/api/v1/tasks/${taskId}/logs?limit=50`);
      assert.deepEqual(
        read.body!.logs.map((l: Body) => `${l.source}: ${l.message}`),
        [
          'server: Task created (problem k8s_target_port-misconfig-detection-1, priority 5, backend orchestrator)',
          `server: Claimed by worker ${W} (attempt 1 of 1)`,
          'worker: started',
          'worker: submitted diagnosis',
          `server: Completed (reported by worker ${W}, attempt 1)`,
        ],
      );
      assert.equal(read.body!.total, 5);
      const stats = await call('GET', '/api/v1/tasks/stats');
      assert.equal(stats.body!.by_status.completed, 1);
      const convs = await call('GET', `/api/v1/llm-conversations?task_id=${taskId}`);
      assert.equal(convs.status, 200);
      assert.deepEqual(convs.body!.conversations, []);
      const queue = await call('GET', '/queue/stats');
      assert.equal(queue.body!.success_rate, 1);
      assert.ok(task.headers.get('x-request-id'));
    });

    it('wakes a long-polling claimer as soon as a task is submitted', async () => {
      await call('POST', '/api/v1/workers/register', { worker_id: W });
      const polling = call('POST', `/api/v1/workers/${W}/claim?wait=5`);
      await sleep(300);
      const submitted = await call('POST', '/api/v1/tasks', { problem_id: 'wake-me' });
      const claimed = await polling;
      assert.equal(claimed.status, 200);
      assert.equal(
        claimed.body?.id,
        submitted.body!.id,
        'the poller returned the task, not null at the deadline',
      );
    });

    it('stops long-polling for a client that disconnected, leaving later tasks pending', async () => {
      await call('POST', '/api/v1/workers/register', { worker_id: W });
      const abort = new AbortController();
      const polling = call('POST', `/api/v1/workers/${W}/claim?wait=30`, undefined, abort.signal).catch(
        (e) => e,
      );
      await sleep(300);
      abort.abort();
      assert.equal(((await polling) as Error).name, 'AbortError');
      await sleep(200);
      const submitted = await call('POST', '/api/v1/tasks', { problem_id: 'nobody-waits' });
      await sleep(500);
      const task = await call('GET', `/api/v1/tasks/${submitted.body!.id}`);
      assert.equal(task.body!.status, 'pending');
    });

    it('ends a long-poll with null when the server shuts down', async () => {
      await call('POST', '/api/v1/workers/register', { worker_id: W });
      const polling = call('POST', `/api/v1/workers/${W}/claim?wait=60`);
      await sleep(300);
      const closed = t.app.close();
      const timeout = sleep(15_000).then(() => 'still waiting');
      const outcome = await Promise.race([polling.then((r) => r.body), timeout]);
      assert.equal(outcome, null);
      await closed;
    });
  });
}
