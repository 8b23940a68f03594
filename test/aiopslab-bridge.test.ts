/**
 * The AIOpsLab bridge program (bridge/aiopslab_bridge.py) against the fake `aiopslab` package in
 * test/fixtures/fake-aiopslab: this test plays the parent (the worker) with scripted replies over
 * the JSON-lines protocol of bridge/PROTOCOL.md. No cluster: the fake is the test double.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BRIDGE = join(ROOT, 'bridge/aiopslab_bridge.py');
const FAKE = join(ROOT, 'test/fixtures/fake-aiopslab');
/** Bound on every wait for the bridge; a hung bridge fails the test instead of hanging it. */
const WAIT_MS = 30_000;

if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: the bridge tests need Python 3.11+ there`);

type Msg = Record<string, unknown> & { type: string };

interface Bridge {
  child: ChildProcess;
  messages: Msg[];
  stdoutNoise: string[];
  stderr: () => string;
  next(type: string): Promise<Msg>;
  send(msg: object): void;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  events(): Array<Record<string, unknown>>;
}

function startBridge(t: TestContext, args: string[], env: Record<string, string> = {}): Bridge {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-'));
  const eventsFile = join(dir, 'events.jsonl');
  const child = spawn(PYTHON, [BRIDGE, ...args.map((a) => a.replace('$DIR', dir))], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      PYTHONPATH: FAKE,
      PYTHONDONTWRITEBYTECODE: '1',
      FAKE_AIOPSLAB_EVENTS: eventsFile,
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const messages: Msg[] = [];
  const stdoutNoise: string[] = [];
  const stderrChunks: string[] = [];
  let partial = '';
  let wake: () => void = () => {};
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        messages.push(JSON.parse(line) as Msg);
      } catch {
        stdoutNoise.push(line);
      }
    }
    wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => stderrChunks.push(d));
  child.stdin!.on('error', () => {});
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  /** Per message type, how many of that type next() has returned (each type is read in order). */
  const taken = new Map<string, number>();
  const next = async (type: string): Promise<Msg> => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const ofType = messages.filter((m) => m.type === type);
      const n = taken.get(type) ?? 0;
      if (ofType.length > n) {
        taken.set(type, n + 1);
        return ofType[n]!;
      }
      if (child.exitCode !== null)
        throw new Error(
          `bridge exited before a ${type} line; stderr tail: ${stderrChunks.join('').slice(-2000)}`,
        );
      if (Date.now() > deadline) throw new Error(`no ${type} line within ${WAIT_MS} ms`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const exited = Promise.race([
    exit,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('bridge did not exit in time')), WAIT_MS).unref(),
    ),
  ]);
  // Tests that never wait for the exit must not see its timeout as an unhandled rejection.
  exited.catch(() => {});
  return {
    child,
    messages,
    stdoutNoise,
    stderr: () => stderrChunks.join(''),
    next,
    send: (msg) => child.stdin!.write(`${JSON.stringify(msg)}\n`),
    exit: exited,
    events: () =>
      existsSync(eventsFile)
        ? readFileSync(eventsFile, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
        : [],
  };
}

const run = (problem: string, maxSteps = 10) => [
  'run',
  '--problem-id',
  problem,
  '--max-steps',
  String(maxSteps),
  '--results-dir',
  '$DIR/results',
];
const block = (call: string) => `I will run:\n\`\`\`\n${call}\n\`\`\``;

/** Answers action_requests with the scripted replies, in order; returns the final line. */
async function play(b: Bridge, replies: string[]): Promise<Msg> {
  for (const reply of replies) {
    const req = await b.next('action_request');
    b.send({ type: 'reply', step: req.step, content: reply });
  }
  return b.next('final');
}

const DETECTION = 'k8s_target_port-misconfig-detection-1';

test('list mode prints every problem id with its task type and deployment', async (t) => {
  const b = startBridge(t, ['list']);
  const { problems } = (await b.next('problems')) as unknown as {
    problems: Array<{ id: string; task_type: string; deployment: string }>;
  };
  assert.equal((await b.next('final')).status, 'completed');
  assert.equal((await b.exit).code, 0);
  assert.deepEqual(
    new Set(problems.map((p) => p.task_type)),
    new Set(['detection', 'localization', 'analysis', 'mitigation']),
  );
  assert.deepEqual(
    problems.find((p) => p.id === 'noop_detection_hotel_reservation-1'),
    { id: 'noop_detection_hotel_reservation-1', task_type: 'detection', deployment: 'k8s' },
  );
  assert.equal(problems.find((p) => p.id === 'flower_node_stop-detection')?.deployment, 'docker');
});

test('a detection episode runs to a correct submit, with phases, steps, results and the session file', async (t) => {
  const b = startBridge(t, run(DETECTION));
  const problem = await b.next('problem');
  assert.equal(problem.task_type, 'detection');
  assert.match(String(problem.task_description), /Service Details/);
  assert.ok(Object.hasOwn(problem.apis as object, 'exec_shell'));
  const first = await b.next('action_request');
  assert.equal(first.input, 'Please take the next action');
  b.send({ type: 'reply', step: 1, content: block('exec_shell("kubectl get pods -n test-social-network")') });
  const second = await b.next('action_request');
  assert.equal(
    second.input,
    'fake output of: kubectl get pods -n test-social-network\nPlease take the next action',
  );
  b.send({ type: 'reply', step: 2, content: block('submit("Yes")') });
  const final = await b.next('final');
  assert.deepEqual(final, {
    type: 'final',
    status: 'completed',
    fault_injected: true,
    fault_recovered: true,
    cluster_dirty: false,
  });
  assert.equal((await b.exit).code, 0);
  const phases = b.messages.filter((m) => m.type === 'phase').map((m) => m.phase);
  assert.deepEqual(phases, [
    'import',
    'setup',
    'fault_injection',
    'running',
    'evaluation',
    'recovery',
    'cleanup',
  ]);
  const steps = b.messages.filter((m) => m.type === 'step');
  assert.deepEqual(
    steps.map((s) => [s.step, s.observation]),
    [
      [1, 'fake output of: kubectl get pods -n test-social-network'],
      [2, 'VALID_SUBMISSION'],
    ],
  );
  const outcome = await b.next('outcome');
  const results = outcome.results as Record<string, unknown>;
  assert.equal(results['Detection Accuracy'], 'Correct');
  assert.equal(results.steps, 2);
  assert.equal(typeof results.TTD, 'number');
  assert.equal(outcome.end_reason, 'submitted');
  const session = (b.messages.find((m) => m.type === 'session') as Msg).content as Record<string, unknown>;
  assert.equal(session.problem_id, DETECTION);
  assert.equal(session.agent, 'task-executor');
  assert.equal((session.trace as unknown[]).length, 4);
  assert.deepEqual(
    b.events().map((e) => e.event),
    ['deploy', 'inject', 'recover', 'cleanup'],
  );
});

test('a mitigation episode: submit() with no argument, success from what the agent did', async (t) => {
  const b = startBridge(t, run('scale_pod_zero_social_net-mitigation-1'));
  const final = await play(b, [
    block('exec_shell("kubectl scale deployment user-service --replicas=1 -n test-social-network")'),
    block('submit()'),
  ]);
  assert.equal(final.status, 'completed');
  const results = (await b.next('outcome')).results as Record<string, unknown>;
  assert.equal(results.success, true);
  assert.equal(typeof results.TTM, 'number');
  assert.equal(results.steps, 2);
});

test('parse errors (a language tag, a keyword submit) cost steps and are scored as AIOpsLab does', async (t) => {
  const b = startBridge(t, run(DETECTION));
  const final = await play(b, [
    '```bash\nexec_shell("ls")\n```',
    block('exec_shell(ls)'),
    block('submit(has_anomaly="Yes")'),
  ]);
  assert.equal(final.status, 'completed');
  const steps = b.messages.filter((m) => m.type === 'step');
  assert.match(
    String(steps[0]?.observation),
    /^\nFormat validation failure\. Only have one pair of three ticks/,
  );
  assert.equal(steps[1]?.observation, 'Error when parsing response: commands must be quoted strings');
  const results = (await b.next('outcome')).results as Record<string, unknown>;
  assert.equal(results.steps, 3);
  assert.equal(results['Detection Accuracy'], 'Invalid Format');
});

test('max_steps reached: the evaluation still runs, with no solution', async (t) => {
  const b = startBridge(t, run('pod_failure_hotel_res-localization-1', 2));
  const final = await play(b, [
    block('exec_shell("ls")'),
    block('get_logs("test-hotel-reservation", "user")'),
  ]);
  assert.equal(final.status, 'completed');
  const outcome = await b.next('outcome');
  assert.equal(outcome.end_reason, 'max_steps');
  assert.deepEqual(outcome.results, {
    ...(outcome.results as object),
    'Localization Accuracy': 0,
    success: false,
    is_subset: false,
    steps: 2,
  });
});

test('cancel while the parent holds a step: the orchestrator recovers the fault, failed cancelled', async (t) => {
  const b = startBridge(t, run(DETECTION));
  await b.next('action_request');
  b.send({ type: 'cancel' });
  const final = await b.next('final');
  assert.equal(final.status, 'failed');
  assert.deepEqual(final.error, { code: 'cancelled', message: 'cancelled (cancel)', reason: 'cancel' });
  assert.equal(final.fault_recovered, true);
  assert.equal((await b.exit).code, 3);
  assert.deepEqual(
    b.events().map((e) => e.event),
    ['deploy', 'inject', 'recover'],
  );
  assert.match(b.stderr(), /Some exception happened\. Recovering the injected fault/);
});

test('cancel during a hung init_problem interrupts it; nothing was injected, nothing to recover', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_HANG: 'init' });
  await b.next('phase');
  while (!b.events().some((e) => e.event === 'hang')) await new Promise((r) => setTimeout(r, 50));
  b.send({ type: 'cancel' });
  const final = await b.next('final');
  assert.equal((final.error as Msg).code, 'cancelled');
  assert.equal(final.fault_injected, false);
  assert.equal((await b.exit).code, 3);
});

test('SIGTERM during a step: the fault is recovered, then the bridge exits', async (t) => {
  const b = startBridge(t, run(DETECTION));
  await b.next('action_request');
  b.child.kill('SIGTERM');
  const final = await b.next('final');
  assert.deepEqual(final.error, { code: 'cancelled', message: 'cancelled (sigterm)', reason: 'sigterm' });
  assert.equal(final.fault_recovered, true);
  assert.equal((await b.exit).code, 3);
  assert.ok(b.events().some((e) => e.event === 'recover'));
});

/** Signal numbers a thread of `pid` blocks, by thread id (SigBlk in /proc/<pid>/task/<tid>/status). */
function blockedSignals(pid: number): Map<number, Set<number>> {
  const out = new Map<number, Set<number>>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const hex = /SigBlk:\s+([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]!;
    const mask = BigInt(`0x${hex}`);
    const blocked = new Set<number>();
    for (let sig = 1; sig <= 64; sig++) if ((mask >> BigInt(sig - 1)) & 1n) blocked.add(sig);
    out.set(Number(tid), blocked);
  }
  return out;
}

test('only the main thread can take SIGTERM or SIGUSR1, so one sent while it writes a line still wakes it', async (t) => {
  // Output.send blocks both in the main thread while it writes; a signal sent then went to any
  // thread not blocking it (the stdin thread), and a main thread asleep in the event loop never
  // ran the handler: SIGTERM right after an action_request was lost now and then.
  const b = startBridge(t, run(DETECTION));
  await b.next('action_request');
  const threads = blockedSignals(b.child.pid!);
  assert.ok(threads.size >= 2, 'the main and the stdin thread');
  for (const [tid, blocked] of threads) {
    if (tid === b.child.pid) continue;
    assert.ok(blocked.has(15) && blocked.has(10), `thread ${tid} blocks SIGTERM and SIGUSR1`);
  }
  // The main thread may still be inside the write that sent the action_request: it takes them
  // once that ends.
  const deadline = Date.now() + 5000;
  let main = threads.get(b.child.pid!)!;
  while ((main.has(15) || main.has(10)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    main = blockedSignals(b.child.pid!).get(b.child.pid!)!;
  }
  assert.ok(!main.has(15) && !main.has(10), 'the main thread takes them');
  b.child.kill('SIGTERM');
  assert.equal((await b.next('final')).fault_recovered, true);
});

test('a second SIGTERM while a step hangs ends the bridge at once with its own code', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_HANG: 'step:1' });
  const req = await b.next('action_request');
  b.send({ type: 'reply', step: req.step, content: block('exec_shell("ls")') });
  while (!b.events().some((e) => e.event === 'hang')) await new Promise((r) => setTimeout(r, 50));
  b.child.kill('SIGTERM');
  // The first one only asks: the hung step keeps the bridge (and its fault) alive.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(b.child.exitCode, null);
  b.child.kill('SIGTERM');
  assert.equal((await b.exit).code, 4);
  const final = await b.next('final');
  assert.equal((final.error as Msg).code, 'killed');
  assert.equal(final.cluster_dirty, true);
  assert.ok(!b.events().some((e) => e.event === 'recover'));
});

test('with SIGTERM ignored by AIOpsLab code the episode goes on (the worker must SIGKILL)', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_IGNORE_SIGTERM: '1' });
  const req = await b.next('action_request');
  b.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  b.send({ type: 'reply', step: req.step, content: block('submit("Yes")') });
  assert.equal((await b.next('final')).status, 'completed');
});

test('import failure: failed import_error, the cause on stderr', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_FAIL: 'import' });
  const final = await b.next('final');
  assert.equal(final.status, 'failed');
  assert.equal((final.error as Msg).code, 'import_error');
  assert.match(String((final.error as Msg).message), /fake AIOpsLab failure at import/);
  assert.equal((await b.exit).code, 1);
  const missing = startBridge(t, run(DETECTION), { PYTHONPATH: '/nonexistent' });
  const final2 = await missing.next('final');
  assert.match(String((final2.error as Msg).message), /No module named 'aiopslab'/);
});

test('init failure: failed init_failed (retryable), the deployed fault-free app left to the worker', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_FAIL: 'init' });
  const final = await b.next('final');
  assert.equal((final.error as Msg).code, 'init_failed');
  assert.equal(final.retryable, true);
  assert.equal(final.fault_injected, false);
  assert.equal((await b.exit).code, 1);
  assert.equal(b.messages.filter((m) => m.type === 'action_request').length, 0);
});

test('an environment failure at step 2: AIOpsLab recovers the fault, failed environment_error', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_FAIL: 'step:2' });
  const final = await play(b, [block('exec_shell("ls")'), block('exec_shell("ls")')]);
  assert.equal((final.error as Msg).code, 'environment_error');
  assert.equal(final.fault_recovered, true);
});

test('a failure after the evaluation keeps the score: completed with a teardown error, cluster dirty', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_FAIL: 'cleanup' });
  const final = await play(b, [block('submit("No")')]);
  assert.equal(final.status, 'completed');
  assert.match(String(final.teardown_error), /failure at cleanup/);
  assert.equal(final.cluster_dirty, true);
  assert.equal(((await b.next('results')).results as Msg)['Detection Accuracy'], 'Incorrect');
});

test('an observation of several MB is carried intact, in the step and the next input', async (t) => {
  const size = 5 * 1024 * 1024 + 17;
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_BIG_OBSERVATION: String(size) });
  const req = await b.next('action_request');
  b.send({ type: 'reply', step: req.step, content: block('exec_shell("cat big.log")') });
  const second = await b.next('action_request');
  const input = String(second.input);
  assert.equal(input.length, size + '\nPlease take the next action'.length);
  assert.ok(input.endsWith(`${'E'.repeat(17)}\nPlease take the next action`));
  b.send({ type: 'reply', step: second.step, content: block('submit("Yes")') });
  assert.equal((await b.next('final')).status, 'completed');
  assert.equal(String((b.messages.find((m) => m.type === 'step') as Msg).observation).length, size);
});

test('a stderr flood does not block the protocol', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_STDERR_FLOOD: String(4 * 1024 * 1024) });
  const final = await play(b, [block('exec_shell("ls")'), block('submit("Yes")')]);
  assert.equal(final.status, 'completed');
  assert.ok(b.stderr().length > 3 * 4 * 1024 * 1024);
});

test("AIOpsLab's stdout noise (print and subprocesses) never reaches protocol stdout", async (t) => {
  const b = startBridge(t, run(DETECTION));
  await play(b, [block('submit("Yes")')]);
  await b.exit;
  assert.deepEqual(b.stdoutNoise, []);
  for (const noise of [
    'Session ID:',
    'Setting up OpenEBS',
    'namespace/openebs created',
    'Framework overhead',
  ])
    assert.ok(b.stderr().includes(noise), noise);
});

test('a reply with no open request is a protocol error: the fault is recovered, failed protocol_error', async (t) => {
  const b = startBridge(t, run(DETECTION));
  const req = await b.next('action_request');
  b.send({ type: 'reply', step: req.step, content: block('exec_shell("ls")') });
  // Whether it lands before or after the next request opens, a reply for step 9 is a violation.
  b.send({ type: 'reply', step: 9, content: 'again' });
  const final = await b.next('final');
  assert.equal((final.error as Msg).code, 'protocol_error');
  assert.equal(final.fault_recovered, true);
  assert.equal((await b.exit).code, 1);
});

test('SIGTERM during a hung init_problem: interrupted, failed cancelled, nothing left injected', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_HANG: 'init' });
  while (!b.events().some((e) => e.event === 'hang')) await new Promise((r) => setTimeout(r, 50));
  b.child.kill('SIGTERM');
  const final = await b.next('final');
  assert.deepEqual(final.error, { code: 'cancelled', message: 'cancelled (sigterm)', reason: 'sigterm' });
  assert.equal((await b.exit).code, 3);
});

test('the fake is honest to AIOpsLab: a str results_dir crashes after the run, init needs register_agent', () => {
  const script = (body: string) =>
    spawnSync(PYTHON, ['-c', `import asyncio\nfrom aiopslab.orchestrator import Orchestrator\n${body}`], {
      env: { PYTHONPATH: FAKE, PYTHONDONTWRITEBYTECODE: '1' },
      encoding: 'utf8',
      timeout: WAIT_MS,
    });
  const order = script(`Orchestrator().init_problem("${DETECTION}")`);
  assert.match(order.stderr, /AttributeError: .*agent_name/);
  const dir = mkdtempSync(join(tmpdir(), 'bridge-str-'));
  const crash = script(
    [
      `o = Orchestrator(results_dir="${dir}")`,
      'class A:',
      '    async def get_action(self, i): return "```\\nsubmit(\\"Yes\\")\\n```"',
      'o.register_agent(A(), "a")',
      'async def main():',
      `    o.init_problem("${DETECTION}")`,
      '    await o.start_problem(3)',
      'asyncio.run(main())',
    ].join('\n'),
  );
  rmSync(dir, { recursive: true, force: true });
  assert.match(crash.stderr, /AttributeError: 'str' object has no attribute 'mkdir'/);
  // The fault was recovered only by the atexit hook, after the crash.
  assert.match(crash.stdout, /Recovering fault before exit/);
});
