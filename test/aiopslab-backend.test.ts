/**
 * The `aiopslab` backend: the real bridge program (bridge/aiopslab_bridge.py) against the fake
 * `aiopslab` package (test/fixtures/fake-aiopslab, via AIOPSLAB_DIR), end to end through
 * `task-executor serve` (queue, in-process worker, gateway, scripted model), and the
 * BridgeEnvironment on its own for the failure paths (each needs the fake's switches in its env).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BridgeEnvironment } from '../src/backends/aiopslab/bridge-environment.ts';
import { WorkerCluster } from '../src/backends/aiopslab/cluster.ts';
import { type BridgeEnvironment as BE, BRIDGE_SCRIPT, bridgeEnv } from '../src/backends/aiopslab/index.ts';
import { EnvironmentError } from '../src/backends/environment.ts';
import { dbModes } from './helpers/db.ts';
import { type J, json, post, waitForTasks } from './helpers/episodes.ts';
import { type ServeProcess, startServe } from './helpers/process.ts';

const PYTHON = '/usr/bin/python3';
const FAKE = fileURLToPath(new URL('./fixtures/fake-aiopslab', import.meta.url));
const BOUND_MS = 60_000;

const settings = {
  AIOPSLAB_DIR: FAKE,
  AIOPSLAB_PYTHON: PYTHON,
  AIOPSLAB_KUBECONFIG: '',
  AIOPSLAB_ENSURE_CLUSTER: false,
  AIOPSLAB_KIND_CONFIG: '',
  AIOPSLAB_ALLOW_DOCKER_PROBLEMS: false,
  AIOPSLAB_CANCEL_GRACE_SECONDS: 5,
  DATA_DIR: tmpdir(),
};

function events(file: string): J[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as J);
}

for (const mode of dbModes()) {
  describe(`aiopslab episodes through worker, gateway and queue (${mode})`, () => {
    let serve: ServeProcess;
    let base: string;
    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'aiopslab-e2e-'));
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(kubeconfig, 'apiVersion: v1\n');
      serve = await startServe(mode, {
        INTERNAL_WORKER_BACKENDS: 'aiopslab:1',
        AIOPSLAB_DIR: FAKE,
        AIOPSLAB_PYTHON: PYTHON,
        AIOPSLAB_KUBECONFIG: kubeconfig,
        FAKE_AIOPSLAB_EVENTS: join(dir, 'events.jsonl'),
      });
      base = serve.base;
    });

    after(async () => {
      await serve?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    async function run(problem_id: string, model: string, extra: J = {}): Promise<J> {
      const t = await json(
        await post(base, '/api/v1/tasks', { problem_id, agent_config: { model }, ...extra }),
      );
      const [done] = await waitForTasks(base, [t.id], BOUND_MS);
      return done!;
    }

    it('advertises the bridge’s problems, without the docker-deployed one', async () => {
      // The worker registers once the bridge has listed them.
      let ids: string[] = [];
      for (const until = Date.now() + BOUND_MS; ids.length === 0 && Date.now() < until; ) {
        const listed = await json(await fetch(`${base}/api/v1/problems?backend=aiopslab`));
        ids = listed.problems.map((p: J) => p.id);
        if (ids.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(ids.includes('k8s_target_port-misconfig-detection-1'), JSON.stringify(ids));
      assert.ok(ids.includes('scale_pod_zero_social_net-mitigation-1'));
      assert.ok(
        !ids.includes('flower_node_stop-detection'),
        'docker problems need AIOPSLAB_ALLOW_DOCKER_PROBLEMS',
      );
    });

    it('a detection episode completes with AIOpsLab’s results unchanged and the session', async () => {
      const t = await run('k8s_target_port-misconfig-detection-1', 'scripted:aiopslab');
      assert.equal(t.status, 'completed', JSON.stringify(t.error_details));
      const r = t.result;
      assert.equal(r.backend, 'aiopslab');
      assert.equal(r.task_type, 'detection');
      assert.equal(r.end_reason, 'submitted');
      assert.equal(r.results['Detection Accuracy'], 'Correct');
      assert.equal(r.results.steps, r.steps);
      assert.ok('TTD' in r.results && 'in_tokens' in r.results);
      assert.equal(r.session.agent, 'task-executor');
      assert.equal(r.session.cluster_dirty, false);
      assert.deepEqual(
        r.trace.map((e: J) => e.role),
        Array.from({ length: r.steps * 2 }, (_, i) => (i % 2 ? 'env' : 'assistant')),
      );
      const calls = await json(
        await fetch(`${base}/api/v1/llm-conversations/${r.conversation_id}/calls?limit=100`),
      );
      assert.equal(calls.calls.length, r.steps, 'every reply went through the gateway');
    });

    it('a mitigation episode completes; its score is data', async () => {
      const t = await run('scale_pod_zero_social_net-mitigation-1', 'scripted:aiopslab');
      assert.equal(t.status, 'completed', JSON.stringify(t.error_details));
      assert.equal(t.result.task_type, 'mitigation');
      assert.equal(typeof t.result.results.success, 'boolean');
      assert.ok('TTM' in t.result.results);
    });

    it('replies that do not parse cost steps; max_steps still evaluates', async () => {
      const t = await run('noop_detection_hotel_reservation-1', 'scripted:echo', { max_steps: 3 });
      assert.equal(t.status, 'completed', JSON.stringify(t.error_details));
      assert.equal(t.result.end_reason, 'max_steps');
      assert.equal(t.result.steps, 3);
      assert.equal(t.result.results.steps, 3);
      const logs = await json(await fetch(`${base}/api/v1/tasks/${t.id}/logs?limit=1000`));
      assert.equal(logs.logs.filter((l: J) => l.context?.parse_error).length, 3);
      assert.ok(
        logs.logs.some((l: J) => l.source === 'aiopslab'),
        'bridge stderr and phases in task logs',
      );
    });
  });
}

/** One BridgeEnvironment run in its own folder, with the fake's switches. */
function bridge(switches: Record<string, string>, over: { termDelayMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'aiopslab-env-'));
  const eventsFile = join(dir, 'events.jsonl');
  const logs: string[] = [];
  let end: J | null = null;
  const env = new BridgeEnvironment({
    python: PYTHON,
    script: BRIDGE_SCRIPT,
    problemId: 'k8s_target_port-misconfig-detection-1',
    maxSteps: 5,
    workDir: dir,
    resultsDir: join(dir, 'results'),
    agentName: 'task-executor',
    env: bridgeEnv(settings, { FAKE_AIOPSLAB_EVENTS: eventsFile, ...switches }),
    termDelayMs: over.termDelayMs ?? 2000,
    killGraceMs: 2000,
    log: (_level, message) => logs.push(message),
    onExit: (e) => {
      end = e as unknown as J;
    },
  });
  return {
    env,
    dir,
    logs,
    events: () => events(eventsFile),
    end: () => end,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function failureOf(p: Promise<unknown>): Promise<EnvironmentError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof EnvironmentError, `expected an EnvironmentError, got ${err}`);
  return err;
}

const SHELL = '```\nexec_shell("kubectl get pods -n test-social-network")\n```';
const SUBMIT = 'I found it.\n```\nsubmit("Yes")\n```';

describe('BridgeEnvironment over the real bridge and the fake aiopslab', () => {
  const signal = () => AbortSignal.timeout(BOUND_MS);

  it('runs an episode; a MB-sized observation arrives whole', async () => {
    const b = bridge({ FAKE_AIOPSLAB_BIG_OBSERVATION: String(3 * 1024 * 1024) });
    try {
      const start = await b.env.start(signal());
      assert.equal(start.first_input, 'Please take the next action');
      assert.ok(Object.keys(start.apis).includes('exec_shell'));
      const s1 = await b.env.step(SHELL, signal());
      assert.equal(s1.observation.length >= 3 * 1024 * 1024, true);
      assert.equal(s1.done, false);
      assert.equal(s1.call?.api, 'exec_shell');
      const s2 = await b.env.step(SUBMIT, signal());
      assert.equal(s2.done, true);
      assert.equal(s2.submitted, true);
      const ev = await b.env.finish(signal());
      assert.equal(ev.results['Detection Accuracy'], 'Correct');
      await b.env.cancel();
      assert.equal(b.end()?.clusterDirty, false);
    } finally {
      b.done();
    }
  });

  it('cancel while the agent thinks: the bridge recovers the fault, the cluster is clean', async () => {
    const b = bridge({});
    try {
      await b.env.start(signal());
      await b.env.step(SHELL, signal());
      // An action_request is open (the model is being asked): the worker cancels.
      await Promise.all([b.env.cancel(), b.env.cancel()]);
      const ev = b.events().map((e) => e.event);
      assert.ok(ev.includes('inject') && ev.includes('recover'), `fault recovered: ${ev.join(',')}`);
      assert.equal(b.end()?.final?.error?.code, 'cancelled');
      assert.equal(b.end()?.clusterDirty, false);
    } finally {
      b.done();
    }
  });

  it('a step that never returns: SIGTERM, then SIGKILL after the grace; the cluster is dirty', async () => {
    const b = bridge({ FAKE_AIOPSLAB_HANG: 'step:1' }, { termDelayMs: 200 });
    try {
      await b.env.start(signal());
      const stepAbort = new AbortController();
      const pending = b.env.step(SHELL, stepAbort.signal);
      const until = Date.now() + BOUND_MS;
      while (!b.events().some((e) => e.event === 'hang') && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      stepAbort.abort(new Error('cancelled'));
      await assert.rejects(pending);
      await b.env.cancel();
      assert.ok(!b.events().some((e) => e.event === 'recover'));
      assert.equal(b.end()?.exit.signal, 'SIGKILL');
      assert.equal(b.end()?.clusterDirty, true);
    } finally {
      b.done();
    }
  });

  it('a hang in init_problem ends on the deadline, and cancel stops the bridge', async () => {
    const b = bridge({ FAKE_AIOPSLAB_HANG: 'init' });
    try {
      const deadline = new AbortController();
      const started = b.env.start(deadline.signal);
      const until = Date.now() + BOUND_MS;
      while (!b.events().some((e) => e.event === 'hang') && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      deadline.abort(new Error('timeout'));
      await assert.rejects(started);
      await b.env.cancel();
      assert.ok(b.end(), 'no bridge left behind');
    } finally {
      b.done();
    }
  });

  it('a failed init_problem is retryable, with the stderr tail', async () => {
    const b = bridge({ FAKE_AIOPSLAB_FAIL: 'init' });
    try {
      const err = await failureOf(b.env.start(signal()));
      assert.equal(err.code, 'init_failed');
      assert.equal(err.retryable, true);
      await b.env.cancel();
    } finally {
      b.done();
    }
  });

  it('an import failure fails with import_error, not retryable', async () => {
    const b = bridge({ FAKE_AIOPSLAB_FAIL: 'import' });
    try {
      const err = await failureOf(b.env.start(signal()));
      assert.equal(err.code, 'import_error');
      assert.equal(err.retryable, false);
      assert.match(err.message, /import_error: RuntimeError: fake AIOpsLab failure at import/);
      assert.equal(typeof err.details.stderr_tail, 'string');
      await b.env.cancel();
    } finally {
      b.done();
    }
  });

  it('a bridge that dies without a final line fails bridge_crashed with its stderr tail', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiopslab-crash-'));
    const script = join(dir, 'crash.py');
    writeFileSync(
      script,
      'import sys, json\nprint(json.dumps({"type":"hello","protocol":1,"mode":"run","pid":0,"python":"x"}), flush=True)\nsys.stderr.write("boom: segfault-like death\\n")\nsys.exit(139)\n',
    );
    const env = new BridgeEnvironment({
      python: PYTHON,
      script,
      problemId: 'x',
      maxSteps: 1,
      workDir: dir,
      resultsDir: join(dir, 'results'),
      agentName: 'a',
      env: bridgeEnv(settings),
      termDelayMs: 1000,
      killGraceMs: 1000,
      log: () => {},
    });
    try {
      const err = await failureOf(env.start(signal()));
      assert.equal(err.code, 'bridge_crashed');
      assert.match(String(err.details.stderr_tail), /boom: segfault-like death/);
      await env.cancel();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stdout line that is not protocol fails protocol_error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiopslab-proto-'));
    const script = join(dir, 'noise.py');
    writeFileSync(script, 'import time\nprint("hello from print()", flush=True)\ntime.sleep(30)\n');
    const env: BE = new BridgeEnvironment({
      python: PYTHON,
      script,
      problemId: 'x',
      maxSteps: 1,
      workDir: dir,
      resultsDir: join(dir, 'results'),
      agentName: 'a',
      env: bridgeEnv(settings),
      termDelayMs: 200,
      killGraceMs: 1000,
      log: () => {},
    });
    try {
      const err = await failureOf(env.start(signal()));
      assert.equal(err.code, 'protocol_error');
      await env.cancel();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('WorkerCluster with a fake kind on PATH', () => {
  let dir: string;
  let log: string;
  let savedPath: string | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'aiopslab-kind-'));
    log = join(dir, 'kind.log');
    const kind = join(dir, 'kind');
    // Records its arguments; `get clusters` lists the clusters named in clusters.txt.
    writeFileSync(
      kind,
      `#!/bin/sh\necho "$*" >> '${log}'\nif [ "$1" = get ]; then cat '${dir}/clusters.txt' 2>/dev/null; fi\nif [ "$1" = create ]; then for a in "$@"; do if [ "$prev" = --kubeconfig ]; then echo 'apiVersion: v1' > "$a"; fi; prev="$a"; done; fi\nexit 0\n`,
    );
    chmodSync(kind, 0o755);
    savedPath = process.env.PATH;
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the missing cluster, then resets it once a run left it dirty', async () => {
    const cluster = new WorkerCluster(
      {
        dataDir: dir,
        kubeconfig: '',
        ensure: true,
        kindConfig: '/kind/kind-config-x86.yaml',
        env: { PATH: `${dir}:${savedPath ?? ''}` },
      },
      'worker-001-kind',
    );
    const noop = () => {};
    const env = await cluster.prepare(noop, AbortSignal.timeout(BOUND_MS));
    assert.equal(env.AIOPSLAB_CLUSTER, 'aiopslab-worker-001-kind');
    assert.equal(env.KUBECONFIG, join(dir, 'clusters/aiopslab-worker-001-kind/kubeconfig'));
    writeFileSync(join(dir, 'clusters.txt'), 'aiopslab-worker-001-kind\n');
    await cluster.prepare(noop, AbortSignal.timeout(BOUND_MS));
    cluster.markDirty();
    await cluster.prepare(noop, AbortSignal.timeout(BOUND_MS));
    assert.equal(cluster.isDirty, false);
    const k = env.KUBECONFIG;
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [
      'get clusters',
      `create cluster --name aiopslab-worker-001-kind --config /kind/kind-config-x86.yaml --kubeconfig ${k}`,
      'get clusters',
      `delete cluster --name aiopslab-worker-001-kind --kubeconfig ${k}`,
      `create cluster --name aiopslab-worker-001-kind --config /kind/kind-config-x86.yaml --kubeconfig ${k}`,
    ]);
  });

  it('with AIOPSLAB_KUBECONFIG it manages nothing', async () => {
    const cluster = new WorkerCluster(
      { dataDir: dir, kubeconfig: '/etc/given-kubeconfig', ensure: true, kindConfig: '', env: {} },
      'worker-002-kind',
    );
    cluster.markDirty();
    const env = await cluster.prepare(() => {}, AbortSignal.timeout(BOUND_MS));
    assert.deepEqual(env, { KUBECONFIG: '/etc/given-kubeconfig' });
    assert.equal(cluster.isDirty, false);
  });
});
