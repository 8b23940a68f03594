/**
 * A remote worker whose report the API refuses for its content — a result over the body limit
 * (413) or one it cannot take (422): sending it again can never succeed, so the worker ends the
 * attempt as a failure saying why instead of leaving the task leased until the reaper calls it
 * "worker lost". Real server, real loop.
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
/** A result the API refuses for its shape (nested deeper than it accepts): a 422. */
const deepResult: Backend = {
  type: 'command',
  run: async () => {
    let result: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 100; i++) result = { nested: result };
    return { status: 'completed', result: result as never };
  },
};

async function runOne(
  mode: Parameters<typeof createTestApp>[0],
  backend: Backend,
  env: Record<string, string>,
) {
  const t = await createTestApp(mode, { listen: true, env });
  const worker = new Worker({
    id: 'worker-042-kind',
    backend,
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
        problem_id: 'refused-result',
        priority: 5,
        backend_type: null,
        parameters: { max_steps: 1, timeout_minutes: 5, agent_config: {} },
        max_attempts: 1,
        idempotency_key: null,
      },
    ]);
    const taskId = created!.task.id;
    await worker.start();
    return await until(async () => {
      const row = await t.queue.getTask(taskId);
      return row !== null && row.status !== 'pending' && row.status !== 'running' && row;
    }, 'the task to end');
  } finally {
    await worker.stop(0);
    await t.close();
  }
}

for (const mode of dbModes()) {
  describe(`result over the body limit (${mode})`, () => {
    it('a 413 on complete ends the task failed with reason result_too_large', async () => {
      const done = await runOne(mode, hugeResult, { BODY_LIMIT_BYTES: '16384' });
      assert.equal(done.status, 'failed');
      assert.equal((done.error_info as { reason?: string }).reason, 'result_too_large');
    });

    it('a 422 on complete ends the attempt at once with report_refused and the API’s reason', async () => {
      const done = await runOne(mode, deepResult, {});
      assert.equal(done.status, 'failed');
      const error = done.error_info as { reason?: string; message?: string };
      assert.equal(error.reason, 'report_refused');
      assert.match(error.message ?? '', /HTTP 422 VALIDATION_ERROR/);
    });
  });
}
