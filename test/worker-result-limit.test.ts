/**
 * A remote worker whose result is larger than the API's body limit: the complete call gets
 * 413, which can never succeed, so the worker ends the attempt as a failure saying why
 * instead of leaving the task leased until the reaper takes it back. Real server, real loop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../src/backends/index.ts';
import { HttpTransport } from '../src/worker/http.ts';
import { Worker } from '../src/worker/worker.ts';
import { until } from './fixtures/worker-helpers.ts';
import { createTestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const quiet = { info() {}, warn() {}, error() {} };
const hugeResult: Backend = {
  type: 'command',
  run: async () => ({ status: 'completed', result: { blob: 'x'.repeat(64 * 1024) } }),
};

for (const mode of dbModes()) {
  describe(`result over the body limit (${mode})`, () => {
    it('a 413 on complete ends the task failed with reason result_too_large', async () => {
      const t = await createTestApp(mode, { listen: true, env: { BODY_LIMIT_BYTES: '16384' } });
      const worker = new Worker({
        id: 'worker-042-kind',
        backend: hugeResult,
        transport: new HttpTransport(t.url, { retries: 2, backoffMs: 10 }),
        maxParallel: 1,
        pollIntervalMs: 1000,
        heartbeatIntervalMs: 1000,
        dataDir: '/tmp/te-result-limit',
        logger: quiet,
      });
      try {
        const [created] = await t.queue.submit([
          {
            problem_id: 'big-result',
            priority: 5,
            backend_type: null,
            parameters: { max_steps: 1, timeout_minutes: 5, agent_config: {} },
            max_attempts: 1,
            idempotency_key: null,
          },
        ]);
        const taskId = created!.task.id;
        await worker.start();
        const done = await until(async () => {
          const row = await t.queue.getTask(taskId);
          return row !== null && row.status !== 'pending' && row.status !== 'running' && row;
        }, 'the task to end');
        assert.equal(done.status, 'failed');
        assert.equal((done.error_details as { reason?: string }).reason, 'result_too_large');
      } finally {
        await worker.stop(0);
        await t.close();
      }
    });
  });
}
