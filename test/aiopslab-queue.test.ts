/**
 * The `aiopslab` backend's failure paths through the whole queue: `task-executor serve` with one
 * in-process aiopslab worker that manages its own kind cluster (a fake `kind` on PATH), the real
 * bridge and the fake AIOpsLab, whose switches are keyed by problem id (point@problem) so one
 * server gives each task its own misbehaviour. Covers the dirty-cluster reset between tasks (no
 * claim meanwhile, the reason on the worker), cancel mid-step, a hang in init past the deadline,
 * a bridge crash, and a retryable init failure. Then GET /api/v1/problems and `task-executor
 * problems` on a server with no worker, listing AIOpsLab's problems itself.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dbModes } from './helpers/db.ts';
import { type J, json, post, waitForTasks } from './helpers/episodes.ts';
import { type ServeProcess, startCli, startServe } from './helpers/process.ts';

const PYTHON = '/usr/bin/python3';
const FAKE = fileURLToPath(new URL('./fixtures/fake-aiopslab', import.meta.url));
const BOUND_MS = 120_000;
const WORKER = 'worker-001-aiopslab';

// One problem per misbehaviour (the fake's switches name them).
const HANG_STEP = 'k8s_target_port-misconfig-localization-1';
const SLOW_STEP = 'k8s_target_port-misconfig-analysis-1';
const HANG_INIT = 'pod_failure_hotel_res-localization-1';
const CRASH = 'wrong_bin_usage-analysis-1';
const FAIL_INIT = 'k8s_target_port-misconfig-mitigation-1';
const GOOD = 'k8s_target_port-misconfig-detection-1';

/**
 * A fake kind: records its arguments; `get clusters` lists clusters.txt; `create` writes the
 * kubeconfig it is given and, while the file `hold` exists, waits (a slow cluster creation the
 * test releases by removing it).
 */
function fakeKind(dir: string): void {
  const kind = join(dir, 'kind');
  writeFileSync(
    kind,
    `#!/bin/sh
echo "$*" >> '${dir}/kind.log'
case "$1" in
get) cat '${dir}/clusters.txt' 2>/dev/null ;;
create)
  for a in "$@"; do if [ "$prev" = --kubeconfig ]; then echo 'apiVersion: v1' > "$a"; fi; if [ "$prev" = --name ]; then echo "$a" >> '${dir}/clusters.txt'; fi; prev="$a"; done
  while [ -e '${dir}/hold' ]; do sleep 0.1; done
  echo "created" >> '${dir}/kind.log' ;;
esac
exit 0
`,
  );
  chmodSync(kind, 0o755);
}

function readLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (const end = Date.now() + BOUND_MS; Date.now() < end; ) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const mode of dbModes()) {
  describe(`aiopslab failure paths through the queue (${mode})`, () => {
    let serve: ServeProcess;
    let base: string;
    let dir: string;
    const events = (): J[] => readLines(join(dir, 'events.jsonl')).map((l) => JSON.parse(l) as J);
    const eventsOf = (problem: string) => events().filter((e) => e.problem === problem);

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'aiopslab-queue-'));
      fakeKind(dir);
      serve = await startServe(mode, {
        INTERNAL_WORKER_BACKENDS: 'aiopslab:1',
        INTERNAL_WORKER_MAX_PARALLEL: '1',
        HEARTBEAT_INTERVAL: '1',
        WORKER_POLL_INTERVAL: '1',
        AIOPSLAB_DIR: FAKE,
        AIOPSLAB_PYTHON: PYTHON,
        AIOPSLAB_ENSURE_CLUSTER: 'true',
        AIOPSLAB_CANCEL_GRACE_SECONDS: '1',
        PATH: `${dir}:${process.env.PATH ?? ''}`,
        FAKE_AIOPSLAB_EVENTS: join(dir, 'events.jsonl'),
        FAKE_AIOPSLAB_HANG: `step:1@${HANG_STEP},init@${HANG_INIT}`,
        FAKE_AIOPSLAB_SLOW: `step:1@${SLOW_STEP}`,
        FAKE_AIOPSLAB_SLOW_SECONDS: '2',
        FAKE_AIOPSLAB_CRASH: `step:1@${CRASH}`,
        FAKE_AIOPSLAB_FAIL: `init@${FAIL_INIT}`,
      });
      base = serve.base;
    });

    after(async () => {
      if (dir) rmSync(join(dir, 'hold'), { force: true });
      await serve?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    async function submit(problem_id: string, extra: J = {}): Promise<string> {
      const t = await json(
        await post(base, '/api/v1/tasks', {
          problem_id,
          agent_config: { model: 'scripted:aiopslab' },
          ...extra,
        }),
      );
      return t.id as string;
    }
    const task = async (id: string): Promise<J> => json(await fetch(`${base}/api/v1/tasks/${id}`));
    const worker = async (): Promise<J> => json(await fetch(`${base}/api/v1/workers/${WORKER}`));
    const kindLog = () => readLines(join(dir, 'kind.log'));

    it('a killed run leaves the cluster dirty: the worker resets it before claiming, saying why', async () => {
      const hung = await submit(HANG_STEP);
      await until('the step to hang', () => eventsOf(HANG_STEP).find((e) => e.event === 'hang'));
      const creates = kindLog().filter((l) => l.startsWith('create')).length;
      writeFileSync(join(dir, 'hold'), '');
      const next = await submit(GOOD);
      await json(await post(base, `/api/v1/tasks/${hung}/cancel`, {}));
      // The bridge ignores the cancel (hung), then SIGTERM, then SIGKILL: the cluster is dirty.
      const [stopped] = await waitForTasks(base, [hung], BOUND_MS);
      assert.equal(stopped!.status, 'cancelled');
      // The reset's `kind create` waits on `hold`: meanwhile the worker says why and claims nothing.
      const w = await until('the reset reason on the worker', async () => {
        const w = await worker();
        return w.metadata.status_reason ? w : undefined;
      });
      assert.match(w.metadata.status_reason, /resetting kind cluster aiopslab-worker-001-aiopslab/);
      await until('the reset to reach kind create', () =>
        kindLog().filter((l) => l.startsWith('create')).length > creates ? true : undefined,
      );
      assert.ok(kindLog().some((l) => l.startsWith('delete cluster --name aiopslab-worker-001-aiopslab')));
      const waiting = await task(next);
      assert.equal(waiting.status, 'pending', 'nothing is claimed while the cluster resets');
      assert.equal(waiting.attempt, 0);
      assert.equal((await worker()).metadata.status_reason, w.metadata.status_reason);

      unlinkSync(join(dir, 'hold'));
      const [done] = await waitForTasks(base, [next], BOUND_MS);
      assert.equal(done!.status, 'completed', JSON.stringify(done!.error_details));
      await until('the reason to clear', async () =>
        (await worker()).metadata.status_reason === undefined ? true : undefined,
      );
    });

    it('cancel mid-step: cancelled, and AIOpsLab’s own recovery undid the fault', async () => {
      const id = await submit(SLOW_STEP);
      await until('the slow step', () => eventsOf(SLOW_STEP).find((e) => e.event === 'slow'));
      const deletes = kindLog().filter((l) => l.startsWith('delete')).length;
      await json(await post(base, `/api/v1/tasks/${id}/cancel`, {}));
      const [t] = await waitForTasks(base, [id], BOUND_MS);
      assert.equal(t!.status, 'cancelled');
      const seen = eventsOf(SLOW_STEP).map((e) => e.event);
      assert.ok(seen.includes('inject') && seen.includes('recover'), seen.join(','));
      // A clean end: the next task runs without a reset.
      const [good] = await waitForTasks(base, [await submit(GOOD)], BOUND_MS);
      assert.equal(good!.status, 'completed');
      assert.equal(kindLog().filter((l) => l.startsWith('delete')).length, deletes);
    });

    it('a hang in init_problem ends on the deadline, with no bridge left running', async () => {
      const id = await submit(HANG_INIT, { timeout_minutes: 1, max_attempts: 1 });
      const hang = await until('init to hang', () => eventsOf(HANG_INIT).find((e) => e.event === 'hang'));
      const [t] = await waitForTasks(base, [id], BOUND_MS);
      assert.equal(t!.status, 'timeout', JSON.stringify(t!.error_details));
      assert.equal(alive(hang.pid as number), false, `bridge ${hang.pid} is gone`);
    });

    it('a bridge that dies mid-episode fails bridge_crashed with its stderr tail', async () => {
      const id = await submit(CRASH, { max_attempts: 1 });
      const [t] = await waitForTasks(base, [id], BOUND_MS);
      assert.equal(t!.status, 'failed');
      assert.equal(t!.error_info.reason, 'bridge_crashed', JSON.stringify(t!.error_details));
      assert.match(String(t!.error_info.stderr_tail), /\[fake\] fatal: killed at step:1/);
    });

    it('a failed init_problem is retried while attempts remain', async () => {
      const id = await submit(FAIL_INIT, { max_attempts: 2 });
      const [t] = await waitForTasks(base, [id], BOUND_MS);
      assert.equal(t!.status, 'failed');
      assert.equal(t!.error_info.reason, 'init_failed', JSON.stringify(t!.error_details));
      assert.equal(t!.attempt, 2);
      const fails = eventsOf(FAIL_INIT).filter((e) => e.event === 'fail');
      assert.equal(fails.length, 2, 'each attempt ran init_problem');
      assert.notEqual(fails[0]!.pid, fails[1]!.pid, 'a fresh bridge per attempt');
    });
  });
}

for (const mode of dbModes()) {
  describe(`aiopslab problems listed by the server itself (${mode})`, () => {
    let serve: ServeProcess;

    before(async () => {
      // No worker at all: the list can only come from the server running the bridge's list mode.
      serve = await startServe(mode, {
        NUM_INTERNAL_WORKERS: '0',
        AIOPSLAB_DIR: FAKE,
        AIOPSLAB_PYTHON: PYTHON,
      });
    });

    after(() => serve?.close());

    it('GET /api/v1/problems has the bridge’s ids with task type and deployment', async () => {
      const r = await json(await fetch(`${serve.base}/api/v1/problems?backend=aiopslab`));
      const byId = new Map<string, J>(r.problems.map((p: J) => [p.id, p]));
      assert.deepEqual(byId.get(GOOD), {
        id: GOOD,
        backend: 'aiopslab',
        task_type: 'detection',
        app: null,
        description: null,
        deployment: 'k8s',
      });
      assert.equal(byId.get('scale_pod_zero_social_net-mitigation-1')?.task_type, 'mitigation');
      assert.ok(
        !byId.has('flower_node_stop-detection'),
        'docker problems need AIOPSLAB_ALLOW_DOCKER_PROBLEMS',
      );
      assert.deepEqual(r.backends, [
        { backend: 'aiopslab', live_workers: 0, any_problem: false, patterns: [], problems: r.total },
      ]);
      const sandbox = await json(await fetch(`${serve.base}/api/v1/problems?backend=sandbox`));
      assert.ok(sandbox.problems.length > 0 && sandbox.problems.every((p: J) => p.deployment === null));
    });

    it('`task-executor problems` shows them', async () => {
      const cli = startCli(['problems', '--api-url', serve.base, '--backend', 'aiopslab'], {});
      assert.equal(await exited(cli.child), 0, cli.output());
      assert.match(cli.output(), new RegExp(`^${GOOD}\\s+aiopslab\\s+detection\\s+deployment: k8s`, 'm'));
      assert.match(cli.output(), /^aiopslab: \d+ problems, 0 live workers/m);
    });
  });
}
