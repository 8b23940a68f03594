/**
 * The remote worker (the same loop over HTTP) against a scripted stand-in API: a task run to
 * completion, cancel and loss delivered by heartbeat, and SIGTERM draining a real worker
 * process, which gives its task back and exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/index.ts';
import type { Task } from '../src/queue/types.ts';
import { runRemoteWorker } from '../src/worker/remote.ts';
import { type FakeApi, type Recorded, type Reply, startFakeApi } from './fixtures/fake-api.ts';
import { agentCmd, fakeTask, isAlive, readPids, scratchDir, until } from './fixtures/worker-helpers.ts';

const W = 'worker-007-kind';
const REMOTE = fileURLToPath(new URL('./fixtures/remote-worker.ts', import.meta.url));
const quiet = { info() {}, warn() {}, error() {} };

/** Routes of the stand-in API: the claim hands out `task` once, heartbeats answer via `beat`. */
async function api(t: TestContext, task: Task, beat: (r: Recorded) => Reply['body'] = () => ({})) {
  let given = false;
  const fake = await startFakeApi(async (r) => {
    if (r.path.endsWith('/claim')) {
      if (!given) {
        given = true;
        return { body: task };
      }
      // Long-poll: an empty queue answers after the wait (shortened here).
      await new Promise((res) => setTimeout(res, 100));
      return { body: null };
    }
    if (r.path.endsWith('/heartbeat'))
      return { body: { lost_task_ids: [], cancel_task_ids: [], ...(beat(r) as object) } };
    return { body: {} };
  });
  t.after(() => fake.close());
  return fake;
}

function remoteConfig(t: TestContext) {
  return loadConfig(
    {},
    {
      DATA_DIR: scratchDir(t),
      COMMAND_BACKEND_CMD: agentCmd(),
      HEARTBEAT_INTERVAL: 0.1,
      WORKER_SHUTDOWN_GRACE: 0.2,
      COMMAND_KILL_GRACE_MS: 2000,
    },
  );
}

/** Runs a remote worker in this process until `stop` is aborted. */
function runInProcess(fake: FakeApi, config: ReturnType<typeof remoteConfig>, stop: AbortController) {
  return runRemoteWorker({
    apiUrl: fake.url,
    id: W,
    backendType: 'command',
    maxParallel: 1,
    supportedProblems: ['k8s-*'],
    config,
    claimWaitSeconds: 1,
    signal: stop.signal,
    logger: quiet,
    handleSignals: false,
  });
}

test('a remote worker registers, runs a claimed task and reports its result with the attempt', async (t) => {
  const task = fakeTask({ problem_id: 'k8s-detection-2', attempt: 3, mode: 'ok' });
  const fake = await api(t, task);
  const stop = new AbortController();
  const done = runInProcess(fake, remoteConfig(t), stop);
  await until(() => fake.calls('/complete').length > 0, 'the completion');
  stop.abort();
  await done;
  const reg = fake.calls('/register')[0]!.body as { worker_id: string; capabilities: unknown };
  assert.equal(reg.worker_id, W);
  assert.deepEqual(reg.capabilities, { max_parallel_tasks: 1, supported_problems: ['k8s-*'] });
  // The report also asks for the next task (its slot is free again), idempotently.
  const { claim_id, ...report } = fake.calls('/complete')[0]!.body as { claim_id: string };
  assert.match(claim_id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(report, {
    worker_id: W,
    attempt: 3,
    result: { problem_id: 'k8s-detection-2', attempt: 3, score: 1 },
    claim_next: 1,
  });
  const shipped = fake.calls('/logs').flatMap((r) => (r.body as { logs: { message: string }[] }).logs);
  assert.deepEqual(shipped.map((l) => l.message).sort(), ['a note on stderr', 'solving k8s-detection-2']);
  assert.ok(fake.calls('/logs').every((r) => (r.body as { attempt: number }).attempt === 3));
  const statuses = fake.calls('/heartbeat').map((r) => (r.body as { status: string }).status);
  assert.equal(statuses.at(-1), 'offline');
});

test('a cancel delivered by heartbeat stops the run and reports it failed as cancelled', async (t) => {
  const task = fakeTask({ attempt: 1, mode: 'tree' });
  const config = remoteConfig(t);
  let cancel = false;
  const fake = await api(t, task, () => (cancel ? { cancel_task_ids: [task.id] } : {}));
  const stop = new AbortController();
  const done = runInProcess(fake, config, stop);
  const pids = await until(() => readPids(join(config.DATA_DIR, 'runs', task.id, 'attempt-1')), 'the run');
  cancel = true;
  await until(() => fake.calls('/fail').length > 0, 'the failure report');
  stop.abort();
  await done;
  assert.equal(
    (fake.calls('/fail')[0]!.body as { error_details: { reason: string } }).error_details.reason,
    'cancelled',
  );
  assert.equal(isAlive(pids.leader), false);
  await until(() => !isAlive(pids.grandchild), 'the grandchild to be gone');
});

test('a lease reported lost by heartbeat stops the run without any report', async (t) => {
  const task = fakeTask({ attempt: 1, mode: 'tree' });
  const config = remoteConfig(t);
  let lost = false;
  const fake = await api(t, task, () => (lost ? { lost_task_ids: [task.id] } : {}));
  const stop = new AbortController();
  const done = runInProcess(fake, config, stop);
  const pids = await until(() => readPids(join(config.DATA_DIR, 'runs', task.id, 'attempt-1')), 'the run');
  lost = true;
  await until(() => !isAlive(pids.leader) && !isAlive(pids.grandchild), 'the run to be stopped');
  stop.abort();
  await done;
  for (const what of ['/complete', '/fail', '/release'])
    assert.equal(fake.calls(what).length, 0, `no ${what} report`);
  // The leases a heartbeat carries stop including the task once it is known lost.
  const last = fake.calls('/heartbeat').at(-1)!.body as { tasks: unknown[] };
  assert.deepEqual(last.tasks, []);
});

test('SIGTERM drains a remote worker process: the task is given back and the process exits 0', async (t) => {
  const task = fakeTask({ attempt: 4, mode: 'tree' });
  const dataDir = scratchDir(t);
  const fake = await api(t, task);
  const child = spawn(process.execPath, ['--import', 'tsx', REMOTE, fake.url, dataDir, agentCmd()], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = once(child, 'exit');
  t.after(() => child.kill('SIGKILL'));
  const pids = await until(() => readPids(join(dataDir, 'runs', task.id, 'attempt-4')), 'the run');
  child.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0, output);
  assert.deepEqual(
    fake.calls('/release').map((r) => r.body),
    [{ worker_id: W, attempt: 4 }],
  );
  const statuses = fake.calls('/heartbeat').map((r) => (r.body as { status: string }).status);
  assert.ok(statuses.includes('draining'), `heartbeats: ${statuses.join(', ')}`);
  assert.equal(statuses.at(-1), 'offline');
  assert.equal(isAlive(pids.leader), false);
  await until(() => !isAlive(pids.grandchild), 'the grandchild to be gone');
  assert.match(output, /draining/);
});
