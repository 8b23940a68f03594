/**
 * The AIOpsLab bridge's episodes, failures and protocol, against the fake AIOpsLab
 * (test/helpers/aiopslab-bridge.ts); cancels and signals are in aiopslab-bridge-signals.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  block,
  DETECTION,
  FAKE,
  type Msg,
  PYTHON,
  play,
  run,
  startBridge,
  WAIT_MS,
} from './helpers/aiopslab-bridge.ts';

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
