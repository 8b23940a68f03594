/**
 * Tokens end to end over real HTTP: a remote worker with the worker token plays a sandbox
 * episode (one with a client token is refused at registration), and the real CLI in child
 * processes: `worker --token`, `submit`/`status` with --token or TASK_EXECUTOR_TOKEN, a
 * clear hint without one, and `serve` refusing 0.0.0.0 without tokens.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { runRemoteWorker } from '../src/worker/remote.ts';
import { HttpError } from '../src/worker/transport.ts';
import { scratchDir, until } from './fixtures/worker-helpers.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { type DbMode, dbModes } from './helpers/db.ts';
import { startCli } from './helpers/process.ts';

const CLIENT = 'client-token-for-remote-tests';
const WORKER = 'worker-token-for-remote-tests';
const API_TOKENS = `client:${CLIENT},worker:${WORKER}`;
const PROBLEM = 'sandbox-scale_pod_zero_social_net-mitigation-1';
const quiet = { info() {}, warn() {}, error() {} };

async function guardedApi(t: TestContext, mode: DbMode): Promise<TestApp> {
  const api = await createTestApp(mode, { env: { API_TOKENS }, listen: true });
  t.after(() => api.close());
  return api;
}

function remote(t: TestContext, api: TestApp, id: string, token: string | undefined, signal: AbortSignal) {
  return runRemoteWorker({
    apiUrl: api.url,
    id,
    backendType: 'sandbox',
    maxParallel: 1,
    supportedProblems: [],
    config: loadConfig({}, { DATA_DIR: scratchDir(t), HEARTBEAT_INTERVAL: 1 }),
    token,
    claimWaitSeconds: 1,
    signal,
    logger: quiet,
    handleSignals: false,
  });
}

async function getTask(api: TestApp, id: string): Promise<{ status: string; worker_id: string | null }> {
  const res = await fetch(`${api.url}/api/v1/tasks/${id}`, {
    headers: { authorization: `Bearer ${CLIENT}` },
  });
  assert.equal(res.status, 200);
  return (await res.json()) as { status: string; worker_id: string | null };
}

for (const mode of dbModes()) {
  describe(`tokens end to end (${mode})`, () => {
    it('a remote worker with the worker token runs a task submitted with the client token', async (t) => {
      const api = await guardedApi(t, mode);
      const stop = new AbortController();
      const running = remote(t, api, 'worker-009-kind', WORKER, stop.signal);
      try {
        const res = await fetch(`${api.url}/api/v1/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${CLIENT}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            problem_id: PROBLEM,
            agent_config: { model: 'scripted:solver' },
            max_steps: 20,
          }),
        });
        assert.equal(res.status, 201, await res.clone().text());
        const { id } = (await res.json()) as { id: string };
        const done = await until(
          async () => {
            const task = await getTask(api, id);
            return ['completed', 'failed'].includes(task.status) && task;
          },
          'the episode to end',
          120_000,
        );
        assert.equal(done.status, 'completed');
        assert.equal(done.worker_id, 'worker-009-kind');
      } finally {
        stop.abort();
        await running;
      }
    });

    it('a remote worker without the worker role is refused at registration, not retried', async (t) => {
      const api = await guardedApi(t, mode);
      for (const [token, status] of [
        [CLIENT, 403],
        [undefined, 401],
      ] as const) {
        const err = await remote(t, api, 'worker-010-kind', token, new AbortController().signal).then(
          () => assert.fail('the worker started'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof HttpError, String(err));
        assert.equal(err.status, status);
      }
    });

    it('the CLI sends --token or TASK_EXECUTOR_TOKEN; `worker --token` claims and runs the task', async (t) => {
      const api = await guardedApi(t, mode);
      const worker = startCli(
        [
          'worker',
          '--api-url',
          api.url,
          '--id',
          'worker-011-kind',
          '--backend-type',
          'sandbox',
          '--token',
          WORKER,
        ],
        { DATA_DIR: scratchDir(t), HEARTBEAT_INTERVAL: '1', WORKER_SHUTDOWN_GRACE: '1' },
      );
      t.after(() => worker.stop('SIGKILL'));
      const submit = startCli(
        ['submit', PROBLEM, '--api-url', api.url, '--model', 'scripted:solver', '--json', '--token', CLIENT],
        {},
      );
      assert.equal(await exited(submit), 0, submit.output());
      const [task] = JSON.parse(submit.output().slice(submit.output().indexOf('['))) as { id: string }[];
      await until(
        async () => (await getTask(api, task!.id)).status === 'completed',
        'the CLI worker to finish',
        120_000,
      );

      const status = startCli(['status', task!.id, '--api-url', api.url, '--json'], {
        TASK_EXECUTOR_TOKEN: CLIENT,
      });
      assert.equal(await exited(status), 0, status.output());
      assert.match(status.output(), /"status": "completed"/);

      const denied = startCli(['status', '--api-url', api.url], { TASK_EXECUTOR_TOKEN: '' });
      assert.equal(await exited(denied), 1);
      assert.match(denied.output(), /401 UNAUTHORIZED/);
      assert.match(denied.output(), /pass --token or set TASK_EXECUTOR_TOKEN/);
      const forbidden = startCli(['status', '--api-url', api.url, '--token', WORKER], {});
      assert.equal(await exited(forbidden), 1);
      assert.match(forbidden.output(), /403 FORBIDDEN/);
      assert.ok(!`${denied.output()}${forbidden.output()}`.includes(WORKER), 'no token echoed');

      assert.equal(await worker.stop('SIGTERM'), 0, worker.output());
      assert.ok(!worker.output().includes(WORKER), 'the worker never logs its token');
    });
  });
}

describe('serve on a reachable address', () => {
  it('refuses to start without tokens, naming the way out', async () => {
    const serve = startCli(['serve', '--host', '0.0.0.0', '--port', '0'], {
      API_TOKENS: '',
      API_TOKENS_FILE: '',
      ALLOW_UNAUTHENTICATED: '',
    });
    // A configuration refused at start is a usage error: exit 2 (README, CLI exit statuses).
    assert.equal(await exited(serve), 2, serve.output());
    assert.match(serve.output(), /HOST=0\.0\.0\.0 is not a loopback address/);
    assert.match(serve.output(), /ALLOW_UNAUTHENTICATED=true/);
  });
});

/** The exit code of a CLI process that ends by itself. */
async function exited(p: ReturnType<typeof startCli>): Promise<number | null> {
  if (p.child.exitCode !== null) return p.child.exitCode;
  return new Promise((resolve) => p.child.once('exit', (code) => resolve(code)));
}
