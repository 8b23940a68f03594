/**
 * Routing by capability: in-process workers of several backends (INTERNAL_WORKER_BACKENDS),
 * each advertising the problems its backend runs, and the reason a task without a taker waits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SANDBOX_PROBLEMS } from '../src/backends/sandbox/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { WorkerManager } from '../src/worker/manager.ts';
import { runRemoteWorker } from '../src/worker/remote.ts';
import { scratchDir, until } from './fixtures/worker-helpers.ts';
import { createTestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, openQueue, submitOne } from './helpers/queue-fixtures.ts';

for (const mode of dbModes()) {
  describe(`routing tasks to workers that can run them (${mode})`, () => {
    it('runs workers per backend, each advertising its catalogue, and keeps the mix when scaled', async (t) => {
      const { queue } = await openQueue(t, mode);
      const config = loadConfig(
        { INTERNAL_WORKER_BACKENDS: 'sandbox:1,command:1' },
        { DATA_DIR: scratchDir(t), HEARTBEAT_INTERVAL: 1 },
      );
      const pool = new WorkerManager({ config, queue });
      await pool.start();
      try {
        const status = pool.status();
        assert.equal(status.backend_type, 'sandbox,command');
        assert.deepEqual(
          status.workers.map((w) => [w.worker_id, w.backend_type]),
          [
            ['worker-001-sandbox', 'sandbox'],
            ['worker-002-command', 'command'],
          ],
        );
        const sandbox = await queue.mustGetWorker('worker-001-sandbox');
        assert.deepEqual(
          sandbox.capabilities.supported_problems,
          SANDBOX_PROBLEMS.map((p) => p.id),
        );
        assert.deepEqual(
          (await queue.mustGetWorker('worker-002-command')).capabilities.supported_problems,
          [],
        );
        const scaled = await pool.scale(4);
        assert.deepEqual(
          scaled.workers.map((w) => w.backend_type),
          ['sandbox', 'command', 'sandbox', 'command'],
        );
        // worker-NNN-<backend>, as the predecessor named its in-process workers worker-00X-kind.
        assert.deepEqual(
          scaled.workers.map((w) => w.worker_id),
          ['worker-001-sandbox', 'worker-002-command', 'worker-003-sandbox', 'worker-004-command'],
        );
        assert.equal((await pool.scale(1)).num_workers, 1);
        await until(() => pool.status().workers.length === 1, 'the removed workers to drain');
        assert.deepEqual(
          (await pool.scale(2)).workers.map((w) => w.worker_id),
          ['worker-001-sandbox', 'worker-002-command'],
          'a freed number is reused, with the same backend',
        );
      } finally {
        await pool.stop({ graceMs: 0 });
      }
    });

    it('says why a pending task has no taker, and stops saying so once a worker can run it', async (t) => {
      const { queue } = await openQueue(t, mode);
      const aiopslabTask = await submitOne(queue, { problem_id: 'k8s_target_port-misconfig-detection-1' });
      const typedTask = await submitOne(queue, { problem_id: 'sandbox-x', backend_type: 'aiopslab' });
      assert.match((await queue.waitingReason(aiopslabTask))!, /No live worker is registered/);

      await addWorker(queue, 'worker-001-internal', {
        backend_type: 'sandbox',
        supported_problems: ['sandbox-*'],
      });
      assert.match((await queue.waitingReason(aiopslabTask))!, /No live worker offers problem/);
      assert.match(
        (await queue.waitingReason(typedTask))!,
        /No live worker drives backend "aiopslab" \(live workers drive: sandbox\)/,
      );
      assert.deepEqual(
        (await queue.unroutablePending()).map((u) => [u.problem_id, u.count]),
        [
          ['k8s_target_port-misconfig-detection-1', 1],
          ['sandbox-x', 1],
        ],
      );

      await addWorker(queue, 'worker-002-kind', {
        backend_type: 'aiopslab',
        supported_problems: ['k8s_*', 'sandbox-x'],
      });
      assert.equal(await queue.waitingReason(aiopslabTask), null);
      assert.equal(await queue.waitingReason(typedTask), null);
      assert.deepEqual(await queue.unroutablePending(), []);

      // An offline or draining worker does not count as a taker.
      await queue.heartbeat('worker-002-kind', 'draining', []);
      assert.match((await queue.waitingReason(typedTask))!, /drives backend "aiopslab"/);
    });

    it('a remote sandbox worker advertises the catalogue and plays an episode through the API and its gateway', async (t) => {
      const api = await createTestApp(mode, { listen: true });
      t.after(() => api.close());
      const stop = new AbortController();
      const running = runRemoteWorker({
        apiUrl: api.url,
        id: 'worker-009-kind',
        backendType: 'sandbox',
        maxParallel: 2,
        supportedProblems: [],
        config: loadConfig({}, { DATA_DIR: scratchDir(t), HEARTBEAT_INTERVAL: 1 }),
        claimWaitSeconds: 1,
        signal: stop.signal,
        logger: { info() {}, warn() {}, error() {} },
        handleSignals: false,
      });
      try {
        const created = await api.queue.submit([
          {
            problem_id: 'sandbox-scale_pod_zero_social_net-mitigation-1',
            priority: 5,
            backend_type: null,
            parameters: { max_steps: 20, timeout_minutes: 5, agent_config: { model: 'scripted:solver' } },
            max_attempts: 1,
            idempotency_key: null,
          },
        ]);
        const id = created[0]!.task.id;
        const done = await until(async () => {
          const task = await api.queue.mustGetTask(id);
          return ['completed', 'failed'].includes(task.status) && task;
        }, 'the episode to end');
        assert.equal(done.status, 'completed', JSON.stringify(done.error_details));
        const result = done.result as { results: { success: boolean }; conversation_id: string };
        assert.equal(result.results.success, true);
        assert.ok(result.conversation_id);
        const worker = await api.queue.mustGetWorker('worker-009-kind');
        assert.equal((worker.capabilities.supported_problems as string[]).length, SANDBOX_PROBLEMS.length);
      } finally {
        stop.abort();
        await running;
      }
    });
  });
}
