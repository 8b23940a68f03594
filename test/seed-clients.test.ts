/**
 * The Python task executor's own clients, run unchanged from its folder against our real
 * server (`task-executor serve` as a child process) (issue 10): its worker client
 * (workers/src/worker.py: register, heartbeats, claim, fail with its error, complete, stop on
 * SIGINT/SIGTERM), its integration script (test_integrated.py) and its curl script
 * (quick_test.sh). Each assertion is what the client prints or exits with, or what the server
 * holds afterwards. A missing Python, module, curl or jq fails the test with what to install.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Body } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { type ServeProcess, startServe, waitFor } from './helpers/process.ts';
import {
  expectations,
  FAKE_AIOPSLAB,
  pythonEnv,
  RUN_INTEGRATED,
  requireSeedTools,
  runProgram,
  SYSTEM_PYTHON,
  seedDir,
  seedFile,
  startForwardProxy,
  startProgram,
} from './helpers/seed.ts';

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
/** What the worker client logs when the server answers it other than it expects. */
const WORKER_COMPLAINTS =
  /Heartbeat failed|Heartbeat error|Failed to claim task|Error claiming task|Failed to register|Registration error|Failed to report result|Error reporting task result|Error in main loop/;

/** The first line of `output` holding `marker` (for messages), or ''. */
const lineOf = (output: string, marker: string) =>
  output
    .split('\n')
    .find((l) => l.includes(marker))
    ?.trim() ?? '';

/** The worker client's log lines that say the server answered other than it expects. */
const complaints = (output: string) => output.split('\n').filter((l) => WORKER_COMPLAINTS.test(l));

async function get(base: string, path: string): Promise<Body> {
  const res = await fetch(`${base}${path}`);
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${path}: ${text}`);
  return JSON.parse(text) as Body;
}

async function submit(base: string, body: unknown): Promise<Body> {
  const res = await fetch(`${base}/api/v1/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return JSON.parse(text) as Body;
}

/** worker.py with a fast poll and heartbeat, bounded to two minutes. */
function startWorkerClient(base: string, id: string, env: Record<string, string> = {}) {
  return startProgram(
    SYSTEM_PYTHON,
    [
      seedFile('workers/src/worker.py'),
      '--id',
      id,
      '--api-url',
      base,
      '--poll-interval',
      '1',
      '--heartbeat-interval',
      '1',
    ],
    { env: pythonEnv(env), cwd: seedDir(), maxMs: 120_000 },
  );
}

/** Waits until the worker's heartbeat is newer than `since` (heartbeats come every second). */
async function nextHeartbeat(base: string, id: string, since: string): Promise<Body> {
  return waitFor(
    async () => {
      const w = await get(base, `/api/v1/workers/${id}`);
      return Date.parse(w.last_heartbeat) > Date.parse(since) && w;
    },
    `a heartbeat from ${id} after ${since}`,
    20_000,
  );
}

for (const mode of dbModes()) {
  describe(`the predecessor's worker client against ours (${mode})`, () => {
    let api: ServeProcess;
    before(async () => {
      // No in-process workers: every task goes to the Python client. A stopped client goes
      // offline after 5 s without heartbeats (the reaper looks every second).
      api = await startServe(mode, {
        NUM_INTERNAL_WORKERS: '0',
        WORKER_HEARTBEAT_TIMEOUT: '5',
        TIMEOUT_CHECK_INTERVAL: '1',
      });
    });
    after(() => api?.close());

    it('registers, heartbeats, claims, fails the task with its error, and stops on SIGINT', async () => {
      requireSeedTools();
      const task = await submit(api.base, {
        problem_id: 'test-problem-001',
        parameters: { max_steps: 30, timeout: 1800, agent_config: { model: 'gpt-4', temperature: 0.7 } },
      });
      const worker = startWorkerClient(api.base, 'worker-901-kind');
      const e = expectations();
      try {
        await worker.waitForLine(
          new RegExp(`Task ${task.id} result reported|Failed to report result`),
          60_000,
        );
        const out = () => worker.output();
        assert.match(out(), /Worker worker-901-kind registered successfully/);
        assert.match(out(), new RegExp(`Claimed task ${task.id}: test-problem-001`));
        assert.match(out(), new RegExp(`Task ${task.id} result reported successfully`), out());

        const failed = await get(api.base, `/api/v1/tasks/${task.id}`);
        assert.equal(failed.status, 'failed');
        assert.equal(failed.worker_id, 'worker-901-kind');
        e.check('item 3: error_details is the error as text', () => {
          assert.equal(typeof failed.error_details, 'string', JSON.stringify(failed.error_details));
          assert.match(failed.error_details, /AIOpsLab import error: No module named 'aiopslab'/);
        });

        const registered = await get(api.base, '/api/v1/workers/worker-901-kind');
        assert.equal(registered.backend_type, 'default');
        assert.equal(registered.metadata.kind_cluster, 'worker-901-kind');
        assert.equal(registered.tasks_failed, 1);
        const beat = await nextHeartbeat(api.base, 'worker-901-kind', registered.last_heartbeat);
        assert.equal(beat.status, 'idle');

        assert.equal(await worker.stop('SIGINT'), 0, out());
        assert.match(out(), /Received signal 2, shutting down/);
        assert.match(out(), /Worker worker-901-kind stopped/);
        e.check('items 1, 8: the server answered every request as the client expects', () =>
          assert.deepEqual(complaints(out()), [], complaints(out()).join(' | ')),
        );
        const gone = await waitFor(
          async () => {
            const w = await get(api.base, '/api/v1/workers/worker-901-kind');
            return w.status === 'offline' && w;
          },
          'the stopped worker to go offline',
          30_000,
        );
        assert.equal(gone.tasks_failed, 1);
        e.done();
      } finally {
        await worker.stop('SIGKILL');
      }
    });

    it('completes a task with the body it sends (AIOpsLab stood in for), and stops on SIGTERM', async () => {
      requireSeedTools();
      const task = await submit(api.base, { problem_id: 'test-problem-002', parameters: { max_steps: 7 } });
      const worker = startWorkerClient(api.base, 'worker-902-kind', { PYTHONPATH: FAKE_AIOPSLAB });
      const e = expectations();
      try {
        await worker.waitForLine(
          new RegExp(`Task ${task.id} result reported|Failed to report result`),
          60_000,
        );
        const out = () => worker.output();
        assert.match(out(), new RegExp(`Task ${task.id} completed successfully`), out());
        assert.match(out(), new RegExp(`Task ${task.id} result reported successfully`), out());

        const done = await get(api.base, `/api/v1/tasks/${task.id}`);
        assert.equal(done.status, 'completed');
        assert.equal(done.worker_id, 'worker-902-kind');
        // The client sent {success, result, execution_time}; the predecessor stored that body.
        e.check('item 2: the result is the body the client sent', () => {
          assert.equal(done.result?.success, true, JSON.stringify(done.result));
          assert.equal(typeof done.result?.execution_time, 'string');
          assert.deepEqual(done.result?.result, {
            problem_id: 'test-problem-002',
            max_steps: 7,
            agent_action: '{"action": "finish", "message": "Task completed"}',
          });
        });
        assert.equal((await get(api.base, '/api/v1/workers/worker-902-kind')).tasks_completed, 1);

        // Idle again: a few heartbeats and polls later it still has nothing to complain about.
        await sleep(2500);
        assert.equal(await worker.stop('SIGTERM'), 0, out());
        assert.match(out(), /Received signal 15, shutting down/);
        assert.match(out(), /Worker worker-902-kind stopped/);
        e.check('items 1, 8: the server answered every request as the client expects', () =>
          assert.deepEqual(complaints(out()), [], complaints(out()).join(' | ')),
        );
        e.done();
      } finally {
        await worker.stop('SIGKILL');
      }
    });
  });

  describe(`the predecessor's integration and curl scripts against ours (${mode})`, () => {
    let api: ServeProcess;
    before(async () => {
      // As the predecessor's user ran it: three in-process workers that take every problem and
      // run AIOpsLab, which is not installed here, so every task fails. (Our default in-process
      // workers drive the offline sandbox and take only its problems: a problem no live worker
      // offers waits with a waiting_reason instead — see README, "Differences".)
      api = await startServe(mode, {
        INTERNAL_WORKER_BACKEND: 'command',
        COMMAND_BACKEND_CMD: 'echo "AIOpsLab is not installed on this machine" >&2; exit 1',
      });
    });
    after(() => api?.close());

    it('runs test_integrated.py to its end with every step answered', async () => {
      requireSeedTools();
      const run = await runProgram(
        SYSTEM_PYTHON,
        ['-c', RUN_INTEGRATED, seedFile('test_integrated.py'), api.base],
        { env: pythonEnv(), cwd: seedDir(), maxMs: 150_000 },
      );
      const out = run.output;
      assert.equal(run.code, 0, out);
      assert.doesNotMatch(out, /Traceback/, out);
      assert.match(out, /=== Test Complete ===/, out);
      assert.match(out, /Total workers: 3/);
      assert.match(out, /✓ Task created: /);
      assert.equal(out.match(/✓ Task \d created: /g)?.length, 5, out);
      assert.match(out, /Workers running: True/);

      const e = expectations();
      e.check('no step reported a failure (✗)', () => assert.doesNotMatch(out, /✗.*/));
      e.check("item 5: health in the predecessor's fields", () =>
        assert.match(
          out,
          /✓ API is healthy: \{.*'database': \{[^}]*'connected': True/,
          lineOf(out, 'API is healthy'),
        ),
      );
      // Steps 5 and 8: the in-process workers take every task and end it (failed).
      e.check('step 5: the task was processed (completed or failed) within 10 s', () =>
        assert.match(
          out,
          /✓ Task finished with status: (completed|failed)/,
          lineOf(out, 'Task still processing'),
        ),
      );
      e.check('step 8: the five tasks were processed within 15 s', () =>
        assert.match(out, /✓ All tasks completed!/, lineOf(out, 'Completed: ') || 'no task was processed'),
      );
      // Step 9: scaling (a body-less POST with aiohttp's content type), in the predecessor's fields.
      e.check('items 1, 10: scale to 5 answered with current_workers', () =>
        assert.match(
          out,
          /Scaling to 5 workers\.\.\.\n\s+Result: \{.*'current_workers': 5/,
          lineOf(out, 'Result: '),
        ),
      );
      e.check('items 1, 10: scale back to 3 answered with current_workers', () =>
        assert.match(
          out,
          /Scaling back to 3 workers\.\.\.\n\s+Result: \{.*'current_workers': 3/,
          out.split('Scaling back to 3')[1]?.split('\n')[1]?.trim(),
        ),
      );
      e.check('step 10: three workers after scaling back', () =>
        assert.match(out, /Number of workers: 3/, lineOf(out, 'Number of workers')),
      );

      const listed = await get(api.base, '/api/v1/tasks?problem_id=test-problem-001');
      assert.equal(listed.total, 2, 'steps 4 and 6 each submitted one test-problem-001');
      const status = await get(api.base, '/api/v1/workers/internal/status');
      e.check('the server holds three in-process workers afterwards', () =>
        assert.equal(status.num_workers, 3),
      );
      e.done();
    });

    it('runs quick_test.sh (curl and jq) against ours as localhost:8000', async () => {
      requireSeedTools(['bash', 'curl', 'jq']);
      // The script names http://localhost:8000 in every request; curl sends them to the proxy
      // named by http_proxy, which forwards them here.
      const proxy = await startForwardProxy(api.base);
      try {
        const run = await runProgram('bash', [seedFile('quick_test.sh')], {
          env: pythonEnv({ http_proxy: proxy.url }),
          cwd: seedDir(),
          maxMs: 60_000,
        });
        const out = run.output;
        assert.equal(run.code, 0, out);
        assert.match(out, /=== Test Complete ===/);
        assert.doesNotMatch(out, /API not running|jq: error|parse error/, out);
        assert.match(out, new RegExp(`Task created: ${UUID_RE.source}`), out);
        assert.match(out, /4\. Checking task status\.\.\.\n"(pending|running|completed|failed)"\n/, out);
        assert.match(out, /5\. Listing all workers\.\.\.\n\d+\n/, out);

        assert.deepEqual(
          proxy.exchanges.map((x) => [x.method, new URL(x.url).pathname.replace(UUID_RE, '{id}'), x.status]),
          [
            ['GET', '/health', 200],
            ['GET', '/api/v1/workers/internal/status', 200],
            ['POST', '/api/v1/tasks', 201],
            ['GET', '/api/v1/tasks/{id}', 200],
            ['GET', '/api/v1/workers', 200],
          ],
          'every request of the script reached the server and succeeded',
        );
        // What jq printed in steps 1 and 2, in the predecessor's fields.
        const health = JSON.parse(proxy.exchanges[0]!.body) as Body;
        const internal = JSON.parse(proxy.exchanges[1]!.body) as Body;
        const e = expectations();
        const healthText = proxy.exchanges[0]!.body;
        e.check('item 5: health.database.connected', () =>
          assert.equal(health.database?.connected, true, healthText),
        );
        e.check('item 5: health.workers.total', () =>
          assert.equal(typeof health.workers?.total, 'number', healthText),
        );
        e.check('item 5: health.timestamp', () =>
          assert.equal(typeof health.timestamp, 'string', healthText),
        );
        e.check('internal status: running and num_workers', () => {
          assert.equal(typeof internal.running, 'boolean');
          assert.equal(typeof internal.num_workers, 'number');
        });
        e.done();
      } finally {
        await proxy.close();
      }
    });
  });
}
