/**
 * The product as a user runs it: the real CLI in child processes, a real HTTP server, the
 * command backend running a real script, SIGTERM for shutdown. Runs on embedded PGlite and,
 * when TEST_DATABASE_URL is set, on a PostgreSQL database of its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dbModes } from './helpers/db.ts';
import { type CliProcess, type ServeProcess, startCli, startServe, waitFor } from './helpers/process.ts';

const AGENT = fileURLToPath(new URL('./fixtures/e2e-agent.sh', import.meta.url));

async function json<T>(res: Response): Promise<T> {
  const body = await res.text();
  assert.ok(res.ok, `HTTP ${res.status}: ${body}`);
  return JSON.parse(body) as T;
}

type TaskJson = {
  id: string;
  status: string;
  result: Record<string, unknown> | null;
  worker_id: string | null;
};

for (const mode of dbModes()) {
  describe(`server and remote worker as processes (${mode})`, () => {
    let serve: ServeProcess;
    let server: CliProcess;
    let base: string;
    let dataDir: string;

    before(async () => {
      serve = await startServe(mode, {
        NUM_INTERNAL_WORKERS: '2',
        INTERNAL_WORKER_BACKEND: 'command',
        COMMAND_BACKEND_CMD: JSON.stringify([AGENT]),
        TIMEOUT_CHECK_INTERVAL: '1',
      });
      ({ server, base, dataDir } = serve);
    });

    after(() => serve?.close());

    it('runs a submitted task to completion with an in-process worker (seed quick start)', async () => {
      const created = await json<TaskJson>(
        await fetch(`${base}/api/v1/tasks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            problem_id: 'k8s_target_port-misconfig-detection-1',
            parameters: { max_steps: 25, agent_config: { model: 'gpt-4o-mini' } },
          }),
        }),
      );
      const done = await waitFor(async () => {
        const t = await json<TaskJson>(await fetch(`${base}/api/v1/tasks/${created.id}`));
        return ['completed', 'failed', 'timeout', 'cancelled'].includes(t.status) && t;
      }, 'the task to finish');
      assert.equal(done.status, 'completed');
      assert.equal(done.result?.['Detection Accuracy'], 'Correct');
      assert.match(done.worker_id ?? '', /^worker-00\d-command$/);
      const logs = await json<{ logs: { level: string; message: string }[] }>(
        await fetch(`${base}/api/v1/tasks/${created.id}/logs?limit=50`),
      );
      assert.ok(logs.logs.some((l) => l.level === 'info' && l.message.includes('in at most 25 steps')));
      assert.ok(logs.logs.some((l) => l.level === 'warning' && l.message === 'a note on stderr'));
    });

    it('a remote worker process claims over HTTP, and on SIGTERM gives a running task back', async () => {
      // Stop the in-process workers so only the remote one can claim.
      await json(await fetch(`${base}/api/v1/workers/internal/stop`, { method: 'POST' }));
      const worker = startCli(
        ['worker', '--api-url', base, '--id', 'worker-007-kind', '--backend-type', 'command'],
        {
          DATA_DIR: dataDir,
          COMMAND_BACKEND_CMD: JSON.stringify([AGENT]),
          HEARTBEAT_INTERVAL: '1',
          WORKER_SHUTDOWN_GRACE: '1',
          SLEEP: '30',
        },
      );
      try {
        const created = await json<TaskJson>(
          await fetch(`${base}/api/v1/tasks`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ problem_id: 'slow-problem', backend_type: 'command' }),
          }),
        );
        await waitFor(async () => {
          const t = await json<TaskJson>(await fetch(`${base}/api/v1/tasks/${created.id}`));
          return t.status === 'running' && t.worker_id === 'worker-007-kind';
        }, 'the remote worker to claim the task');
        const code = await worker.stop('SIGTERM');
        assert.equal(code, 0, worker.output());
        const back = await json<TaskJson & { attempt: number }>(
          await fetch(`${base}/api/v1/tasks/${created.id}`),
        );
        assert.equal(
          back.status,
          'pending',
          'a task still running at the end of the grace period is given back',
        );
        assert.equal(back.worker_id, null);
        await json(await fetch(`${base}/api/v1/tasks/${created.id}/cancel`, { method: 'POST' }));
      } finally {
        await worker.stop('SIGKILL');
      }
    });

    it('shuts down cleanly on SIGTERM', async () => {
      const code = await server.stop('SIGTERM');
      assert.equal(code, 0, server.output());
    });
  });
}
