/**
 * What a newcomer sees when starting the product as processes: start-up progress, task
 * lifecycle lines in the server log, and workers whose backend cannot run (no
 * COMMAND_BACKEND_CMD) claiming nothing and saying why: a remote worker refuses to start, an
 * in-process one stands aside, and a pending task stays pending with the reason visible in
 * the task, the CLI, the server log and /health. An aiopslab worker whose bridge cannot import
 * AIOpsLab does the same instead of taking the server down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dbModes } from './helpers/db.ts';
import { type ServeProcess, startCli, startServe, waitFor } from './helpers/process.ts';

type TaskJson = {
  id: string;
  status: string;
  waiting_reason?: string | null;
  error_info: { reason?: string } | null;
};
type LogLine = { level: number; msg: string; task_id?: string; [k: string]: unknown };

async function json<T>(res: Response): Promise<T> {
  const body = await res.text();
  assert.ok(res.ok, `HTTP ${res.status}: ${body}`);
  return JSON.parse(body) as T;
}

/** The server's JSON log lines so far (stdout is a pipe, so LOG_FORMAT=auto gives JSON). */
function logLines(serve: ServeProcess): LogLine[] {
  return serve.server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

for (const mode of dbModes()) {
  describe(`start-up and workers that cannot run (${mode})`, () => {
    let serve: ServeProcess;
    let base: string;
    const submit = async (body: object) =>
      json<TaskJson>(
        await fetch(`${base}/api/v1/tasks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
      );
    const getTask = async (id: string) => json<TaskJson>(await fetch(`${base}/api/v1/tasks/${id}`));
    const finished = (id: string) =>
      waitFor(async () => {
        const t = await getTask(id);
        return t.status !== 'pending' && t.status !== 'running' && t;
      }, `task ${id} to finish`);
    const logged = (match: (l: LogLine) => boolean, what: string) =>
      waitFor(async () => logLines(serve).find(match), what);

    before(async () => {
      serve = await startServe(mode, {
        INTERNAL_WORKER_BACKENDS: 'sandbox:1,command:1,aiopslab:1',
        COMMAND_BACKEND_CMD: '',
        // No AIOPSLAB_DIR and no AIOpsLab installed: the bridge cannot import it.
        AIOPSLAB_DIR: '',
        AIOPSLAB_PYTHON: '/usr/bin/python3',
        LOG_FORMAT: 'auto',
      });
      base = serve.base;
      // The command worker has stood aside once the pool says it started.
      await logged((l) => l.msg.startsWith('in-process workers started'), 'the pool to start');
    });
    after(() => serve?.close());

    it('says what it is doing while it starts, ending with the address and the docs', () => {
      const msgs = logLines(serve).map((l) => l.msg);
      const at = (re: RegExp) => msgs.findIndex((m) => re.test(m));
      const steps = [
        /^opening the database: /,
        /^applying database migrations$/,
        /^(applied \d+ migration\(s\)|database schema is up to date)$/,
        /^Task Executor listening on http:\/\/127\.0\.0\.1:\d+ \(API docs: http:\/\/127\.0\.0\.1:\d+\/docs\)$/,
        /^starting in-process workers$/,
        /^in-process workers started; 2 claim nothing/,
      ].map(at);
      assert.ok(
        steps.every((i) => i >= 0),
        `every start-up step is logged: ${JSON.stringify(steps)}\n${msgs.join('\n')}`,
      );
      assert.deepEqual(
        [...steps].sort((a, b) => a - b),
        steps,
        'in the order they happen',
      );
    });

    it('an in-process worker without COMMAND_BACKEND_CMD claims nothing and says why everywhere', async () => {
      const task = await submit({ problem_id: 'k8s-detection-1', backend_type: 'command' });
      // The server's warning for this task is written after its submit answered, so once it
      // is there the command worker has had this task in reach.
      const warn = await logged((l) => l.task_id === task.id && /waits: /.test(l.msg), 'the waiting line');
      assert.match(warn.msg, /No live worker drives backend "command"/);

      const now = await getTask(task.id);
      assert.equal(now.status, 'pending', 'the misconfigured worker did not claim it');
      assert.match(String(now.waiting_reason), /No live worker drives backend "command"/);

      const health = await json<{ status: string; warnings: string[]; unroutable_pending: number }>(
        await fetch(`${base}/health`),
      );
      assert.equal(health.status, 'degraded');
      assert.equal(health.unroutable_pending, 1);
      assert.ok(
        health.warnings.some((w) =>
          /^worker-002-command claims nothing: COMMAND_BACKEND_CMD is not set/.test(w),
        ),
        JSON.stringify(health.warnings),
      );
      assert.ok(health.warnings.some((w) => /^1 pending k8s-detection-1 task\(s\) wait: /.test(w)));

      const pool = await json<{
        worker_list: { worker_id: string; state: string; status_reason: string | null }[];
      }>(await fetch(`${base}/api/v1/workers/internal/status`));
      const command = pool.worker_list.find((w) => w.worker_id === 'worker-002-command');
      assert.equal(command?.state, 'unavailable');
      assert.match(String(command?.status_reason), /COMMAND_BACKEND_CMD/);

      const row = await json<{ status: string; metadata: { status_reason?: string } }>(
        await fetch(`${base}/api/v1/workers/worker-002-command`),
      );
      assert.equal(row.status, 'offline');
      assert.match(String(row.metadata.status_reason), /COMMAND_BACKEND_CMD is not set/);
      assert.ok(
        logLines(serve).some(
          (l) => l.level === 50 && /^worker worker-002-command claims nothing: /.test(l.msg),
        ),
        'an error line at start-up says why',
      );

      const cli = startCli(['status', task.id, '--api-url', base], {});
      await waitFor(async () => cli.child.exitCode !== null, 'the CLI to exit');
      assert.equal(cli.child.exitCode, 0, cli.output());
      assert.match(cli.output(), /waiting: {5}No live worker drives backend "command"/);
    });

    it('a remote worker without COMMAND_BACKEND_CMD refuses to start and claims nothing', async () => {
      const task = await submit({ problem_id: 'k8s-detection-2', backend_type: 'command' });
      const worker = startCli(
        ['worker', '--api-url', base, '--id', 'worker-007-kind', '--backend-type', 'command'],
        {
          COMMAND_BACKEND_CMD: '',
        },
      );
      await waitFor(async () => worker.child.exitCode !== null, 'the worker to exit');
      assert.equal(worker.child.exitCode, 1);
      assert.match(
        worker.output(),
        /worker worker-007-kind refuses to start: its command backend cannot run: COMMAND_BACKEND_CMD is not set/,
      );
      assert.equal((await getTask(task.id)).status, 'pending');
      const workers = await json<{ workers: { worker_id: string }[] }>(await fetch(`${base}/api/v1/workers`));
      assert.ok(!workers.workers.some((w) => w.worker_id === 'worker-007-kind'), 'it never registered');
    });

    it('logs each task transition: submitted, claimed, completed, failed with its reason, cancelled', async () => {
      const ok = await submit({
        problem_id: 'sandbox-scale_pod_zero_social_net-detection-1',
        agent_config: { model: 'scripted:solver' },
      });
      // No upstream key: the gateway refuses gpt-4o, so the episode fails with llm_error.
      const bad = await submit({ problem_id: 'sandbox-scale_pod_zero_social_net-detection-1' });
      assert.equal((await finished(ok.id)).status, 'completed');
      const failed = await finished(bad.id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error_info?.reason, 'llm_error');
      const waiting = await submit({ problem_id: 'k8s-detection-3', backend_type: 'command' });
      const cancel = await fetch(`${base}/api/v1/tasks/${waiting.id}/cancel`, { method: 'POST' });
      assert.equal(cancel.status, 200);

      const about = (id: string, re: RegExp) =>
        logged((l) => l.task_id === id && re.test(l.msg), `${re} for ${id}`);
      await about(ok.id, /^task submitted: sandbox-scale_pod_zero_social_net-detection-1$/);
      await about(ok.id, /^task claimed by worker-001-sandbox \(attempt 1 of 1\)/);
      await about(ok.id, /^task completed: /);
      const line = await about(bad.id, /^task failed: /);
      assert.equal(line.reason, 'llm_error');
      assert.match(line.msg, /\[llm_error\] LLM call failed: .*OPENAI_API_KEY/);
      await about(waiting.id, /^task cancelled: /);
    });

    it('an aiopslab worker whose bridge cannot import AIOpsLab claims nothing and says why', async () => {
      const task = await submit({
        problem_id: 'k8s_target_port-misconfig-detection-1',
        backend_type: 'aiopslab',
      });
      const row = await json<{ status: string; metadata: { status_reason?: string } }>(
        await fetch(`${base}/api/v1/workers/worker-003-aiopslab`),
      );
      assert.equal(row.status, 'offline');
      assert.match(
        String(row.metadata.status_reason),
        /^cannot list its problems: .*No module named 'aiopslab'/,
      );
      const health = await json<{ warnings: string[] }>(await fetch(`${base}/health`));
      assert.ok(
        health.warnings.some((w) => /^worker-003-aiopslab claims nothing: cannot list its problems/.test(w)),
        JSON.stringify(health.warnings),
      );

      const remote = startCli(
        ['worker', '--api-url', base, '--id', 'worker-008-kind', '--backend-type', 'aiopslab'],
        { AIOPSLAB_DIR: '', AIOPSLAB_PYTHON: '/usr/bin/python3' },
      );
      await waitFor(async () => remote.child.exitCode !== null, 'the remote worker to exit');
      assert.equal(remote.child.exitCode, 1);
      assert.match(
        remote.output(),
        /worker worker-008-kind refuses to start: its aiopslab backend cannot run: cannot list its problems: /,
      );
      assert.equal((await getTask(task.id)).status, 'pending');
    });
  });
}
