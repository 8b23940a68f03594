/**
 * The worker loop in-process (WorkerManager over the direct transport) on a real queue:
 * exactly-once completion across workers, max_parallel, cancel, lost leases, deadlines and
 * graceful stop, with real child processes where a run must be stopped.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CommandBackend } from '../src/backends/command.ts';
import type { Backend, RunOutcome } from '../src/backends/index.ts';
import { type Config, loadConfig } from '../src/config/index.ts';
import { type Queue, reapOnce, type Task } from '../src/queue/index.ts';
import { DirectTransport } from '../src/worker/direct.ts';
import { WorkerManager } from '../src/worker/manager.ts';
import { Worker } from '../src/worker/worker.ts';
import { agentCmd, isAlive, readPids, scratchDir, until } from './fixtures/worker-helpers.ts';
import { dbModes } from './helpers/db.ts';
import {
  addWorker,
  claimOne,
  newTask,
  openQueue,
  passDeadline,
  submitOne,
} from './helpers/queue-fixtures.ts';

const quiet = { info() {}, warn() {}, error() {} };

function testConfig(t: TestContext, o: Partial<Config> = {}): Config {
  return loadConfig(
    {},
    {
      DATA_DIR: scratchDir(t),
      COMMAND_BACKEND_CMD: agentCmd(),
      COMMAND_KILL_GRACE_MS: 2000,
      HEARTBEAT_INTERVAL: 0.1,
      WORKER_POLL_INTERVAL: 1,
      WORKER_SHUTDOWN_GRACE: 0.2,
      NUM_INTERNAL_WORKERS: 1,
      INTERNAL_WORKER_BACKEND: 'command',
      INTERNAL_WORKER_MAX_PARALLEL: 1,
      ...o,
    },
  );
}

/** Runs fn with a started pool; the pool is stopped before the database goes, pass or fail. */
async function withPool(pool: WorkerManager, fn: () => Promise<void>): Promise<void> {
  await pool.start();
  try {
    await fn();
  } finally {
    await pool.stop({ graceMs: 0 });
  }
}

const statusOf = async (queue: Queue, id: string) => (await queue.mustGetTask(id)).status;
const workDirOf = (config: Config, task: Task, attempt = 1) =>
  join(config.DATA_DIR, 'runs', task.id, `attempt-${attempt}`);
const treeTask = (o: Parameters<typeof newTask>[0] = {}) =>
  newTask({ ...o, parameters: { metadata: { mode: 'tree' } } });

/** A backend that records which worker ran which task, and how many ran at once. */
function probe(hold?: Promise<void>) {
  const runs: string[] = [];
  const byWorker = new Map<string, { now: number; max: number }>();
  const backend: Backend = {
    type: 'command',
    async run(task, ctx): Promise<RunOutcome> {
      runs.push(task.id);
      const c = byWorker.get(ctx.workerId) ?? { now: 0, max: 0 };
      byWorker.set(ctx.workerId, c);
      c.max = Math.max(c.max, ++c.now);
      await (hold ?? new Promise((r) => setImmediate(r)));
      c.now--;
      return { status: 'completed', result: { by: ctx.workerId } };
    },
  };
  return { backend, runs, byWorker };
}

for (const mode of dbModes()) {
  describe(`worker loop (${mode})`, () => {
    it('every task is completed exactly once, by several workers', async (t) => {
      const { queue } = await openQueue(t, mode);
      const p = probe();
      const config = testConfig(t, { NUM_INTERNAL_WORKERS: 4, INTERNAL_WORKER_MAX_PARALLEL: 4 });
      const pool = new WorkerManager({ config, queue, backendFactory: () => p.backend });
      await withPool(pool, async () => {
        await queue.submit(Array.from({ length: 300 }, (_, i) => newTask({ problem_id: `p-${i}` })));
        await until(
          async () => (await queue.listTasks({ status: 'completed', limit: 1, offset: 0 })).total === 300,
          'all tasks completed',
        );
      });
      assert.equal(p.runs.length, 300);
      assert.equal(new Set(p.runs).size, 300, 'no task ran twice');
      const { tasks } = await queue.listTasks({ limit: 500, offset: 0 });
      assert.ok(tasks.every((x) => x.status === 'completed' && x.attempt === 1));
      const workers = new Set(tasks.map((x) => x.worker_id));
      assert.ok(workers.size > 1, `expected several workers, got ${[...workers].join(', ')}`);
      for (const x of tasks) assert.deepEqual(x.result, { by: x.worker_id });
    });

    it('a worker never runs more than max_parallel tasks at once', async (t) => {
      const { queue } = await openQueue(t, mode);
      let open!: () => void;
      const p = probe(new Promise<void>((r) => (open = r)));
      const config = testConfig(t, { NUM_INTERNAL_WORKERS: 2, INTERNAL_WORKER_MAX_PARALLEL: 3 });
      const pool = new WorkerManager({ config, queue, backendFactory: () => p.backend });
      await withPool(pool, async () => {
        await queue.submit(Array.from({ length: 10 }, () => newTask()));
        await until(() => p.runs.length === 6, 'both workers to fill their slots');
        // More work arrives (and wakes the workers) while every slot is taken.
        await queue.submit([newTask()]);
        const busy = pool.status().workers.map((w) => w.running_tasks.length);
        assert.deepEqual(busy, [3, 3]);
        open();
        await until(
          async () => (await queue.listTasks({ status: 'completed', limit: 1, offset: 0 })).total === 11,
          'all tasks completed',
        );
      });
      assert.deepEqual(
        [...p.byWorker.values()].map((c) => c.max),
        [3, 3],
      );
    });

    it('a failure the backend marks retryable gets another attempt', async (t) => {
      const { queue } = await openQueue(t, mode);
      const backend: Backend = {
        type: 'command',
        run: async (task): Promise<RunOutcome> =>
          task.attempt === 1
            ? { status: 'failed', error: { reason: 'image pull' }, retryable: true }
            : { status: 'completed', result: { attempt: task.attempt } },
      };
      const pool = new WorkerManager({ config: testConfig(t), queue, backendFactory: () => backend });
      const task = await submitOne(queue, { max_attempts: 2 });
      await withPool(pool, async () => {
        await until(async () => (await statusOf(queue, task.id)) === 'completed', 'completion');
      });
      const done = await queue.mustGetTask(task.id);
      assert.equal(done.attempt, 2);
      assert.deepEqual(done.result, { attempt: 2 });
    });

    it('a command run ships its output to the task log and completes with its result', async (t) => {
      const { queue } = await openQueue(t, mode);
      const config = testConfig(t);
      const pool = new WorkerManager({ config, queue });
      const task = await submitOne(queue, { problem_id: 'k8s-detection-1' });
      await withPool(pool, async () => {
        await until(async () => (await statusOf(queue, task.id)) === 'completed', 'completion');
      });
      assert.deepEqual((await queue.mustGetTask(task.id)).result, {
        problem_id: 'k8s-detection-1',
        attempt: 1,
        score: 1,
      });
      const logs = await queue.readLogs(task.id, {
        limit: 100,
        order: 'oldest',
        sources: ['stdout', 'stderr'],
      });
      const lines = logs.map((l) => `${l.level}/${l.source}: ${l.message}`).sort();
      assert.deepEqual(lines, ['info/stdout: solving k8s-detection-1', 'warning/stderr: a note on stderr']);
      assert.ok(logs.every((l) => l.attempt === 1));
    });

    it('cancelling a running task stops its processes and ends it cancelled', async (t) => {
      const { queue } = await openQueue(t, mode);
      const config = testConfig(t);
      const pool = new WorkerManager({ config, queue });
      const [created] = await queue.submit([treeTask()]);
      const task = created!.task;
      await withPool(pool, async () => {
        const pids = await until(() => readPids(workDirOf(config, task)), 'the command to start');
        assert.equal((await queue.cancel(task.id)).outcome, 'cancel_requested');
        await until(
          async () => (await statusOf(queue, task.id)) === 'cancelled',
          'the task to end cancelled',
        );
        await until(() => !isAlive(pids.grandchild) && !isAlive(pids.leader), 'its processes to be gone');
      });
      const ended = await queue.mustGetTask(task.id);
      assert.equal((ended.error_info as { reason: string }).reason, 'cancelled');
    });

    it('graceful stop gives a long-running task back without charging its attempt', async (t) => {
      const { queue } = await openQueue(t, mode);
      const config = testConfig(t);
      const pool = new WorkerManager({ config, queue });
      const [created] = await queue.submit([treeTask({ max_attempts: 1 })]);
      const task = created!.task;
      await pool.start();
      const pids = await until(() => readPids(workDirOf(config, task)), 'the command to start');
      const stopped = await pool.stop({ graceMs: 50 });
      assert.equal(stopped.running, false);
      assert.deepEqual(stopped.workers, []);
      assert.equal(await statusOf(queue, task.id), 'pending');
      await until(() => !isAlive(pids.grandchild) && !isAlive(pids.leader), 'its processes to be gone');
      assert.equal((await queue.mustGetWorker('worker-001-command')).status, 'offline');
      // max_attempts is 1, yet the task can be claimed again: the release did not use it up.
      await addWorker(queue, 'worker-009-kind', { backend_type: 'command' });
      const again = await claimOne(queue, 'worker-009-kind');
      assert.equal(again.id, task.id);
      assert.equal(again.attempt, 2);
    });

    it('a run whose lease was lost is stopped and not reported', async (t) => {
      const { queue } = await openQueue(t, mode);
      const config = testConfig(t);
      const pool = new WorkerManager({ config, queue });
      const [created] = await queue.submit([treeTask({ max_attempts: 2 })]);
      const task = created!.task;
      await withPool(pool, async () => {
        const pids = await until(() => readPids(workDirOf(config, task)), 'the command to start');
        // The queue takes the task away (as a reaper pass would) and another worker claims it.
        await queue.release('worker-001-command', task.id, 1);
        await addWorker(queue, 'worker-009-kind', { backend_type: 'command' });
        assert.equal((await claimOne(queue, 'worker-009-kind')).attempt, 2);
        await until(() => !isAlive(pids.grandchild) && !isAlive(pids.leader), 'the lost run to be stopped');
        await until(() => pool.status().workers[0]?.running_tasks.length === 0, 'the run to be dropped');
      });
      const now = await queue.mustGetTask(task.id);
      assert.equal(now.status, 'running', 'the old holder reported nothing');
      assert.equal(now.worker_id, 'worker-009-kind');
      assert.equal(now.attempt, 2);
    });

    it('a run past its deadline is stopped and left to the reaper to end as timeout', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const config = testConfig(t);
      const task = await submitOne(queue, { parameters: { timeout_minutes: 1, metadata: { mode: 'tree' } } });
      const worker = new Worker({
        id: 'worker-001-command',
        backend: new CommandBackend(config),
        transport: new DirectTransport(queue),
        maxParallel: 1,
        pollIntervalMs: 1000,
        heartbeatIntervalMs: 100,
        dataDir: config.DATA_DIR,
        logger: quiet,
        // The worker's clock runs 55 s ahead, so the one-minute deadline comes 5 s in: soon,
        // yet late enough for the command to have started (and written its pids) on a loaded machine.
        now: () => Date.now() + 55_000,
      });
      await worker.start();
      try {
        const pids = await until(() => readPids(workDirOf(config, task)), 'the command to start');
        await until(() => !isAlive(pids.grandchild) && !isAlive(pids.leader), 'the run to be stopped');
        await until(() => worker.status().running_tasks.length === 0, 'the run to be dropped');
        const logs = await queue.readLogs(task.id, { limit: 100, order: 'oldest' });
        assert.ok(logs.some((l) => l.level === 'warning' && /deadline/.test(l.message)));
        assert.equal(await statusOf(queue, task.id), 'running', 'the worker did not record it failed');
        await passDeadline(db, task.id);
        await reapOnce(queue, 60);
        assert.equal(await statusOf(queue, task.id), 'timeout');
      } finally {
        await worker.stop(0);
      }
    });

    it('scale starts and drains workers, numbering them from 001', async (t) => {
      const { queue } = await openQueue(t, mode);
      const p = probe();
      const config = testConfig(t, { NUM_INTERNAL_WORKERS: 2 });
      const pool = new WorkerManager({ config, queue, backendFactory: () => p.backend });
      assert.equal(pool.status().running, false);
      await withPool(pool, async () => {
        const ids = (s: { workers: { worker_id: string }[] }) => s.workers.map((w) => w.worker_id);
        assert.deepEqual(ids(pool.status()), ['worker-001-command', 'worker-002-command']);
        assert.deepEqual(
          ids(await pool.scale(4)),
          [1, 2, 3, 4].map((n) => `worker-00${n}-command`),
        );
        assert.equal((await pool.scale(1)).num_workers, 1);
        await until(() => pool.status().workers.length === 1, 'the removed workers to drain');
        assert.deepEqual(ids(pool.status()), ['worker-001-command']);
        await assert.rejects(pool.scale(51), RangeError);
        const task = await submitOne(queue);
        await until(async () => (await statusOf(queue, task.id)) === 'completed', 'completion');
      });
    });
  });
}
