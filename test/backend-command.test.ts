/**
 * The `command` backend against real child processes: outcomes from exit codes and the
 * result file, output lines as logs, placeholders and environment, and stopping a whole
 * process group (the grandchildren included) on cancel.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CommandBackend, parseCommandLine, substitute } from '../src/backends/command.ts';
import { createBackend, type RunOutcome } from '../src/backends/index.ts';
import { loadConfig } from '../src/config/index.ts';
import {
  AGENT,
  agentCmd,
  fakeTask,
  isAlive,
  readPids,
  recordingContext,
  scratchDir,
  until,
} from './fixtures/worker-helpers.ts';

/** The error of a failed outcome (asserting it failed). */
function errorOf(outcome: RunOutcome): Record<string, unknown> {
  assert.equal(outcome.status, 'failed', JSON.stringify(outcome));
  return (outcome as { error: Record<string, unknown> }).error;
}

const backend = (cmd: string, killGraceMs = 5000) =>
  new CommandBackend({ COMMAND_BACKEND_CMD: cmd, COMMAND_KILL_GRACE_MS: killGraceMs });

test('exit 0 completes with the JSON the command wrote to RESULT_FILE', async (t) => {
  const ctx = recordingContext(join(scratchDir(t), 'attempt-1'));
  const task = fakeTask({ problem_id: 'k8s-detection-3', mode: 'ok' });
  const outcome = await backend(agentCmd()).run(task, ctx);
  assert.deepEqual(outcome, {
    status: 'completed',
    result: { problem_id: 'k8s-detection-3', attempt: 1, score: 1 },
  });
});

test('exit 0 without a result file completes with the exit code', async (t) => {
  const ctx = recordingContext(join(scratchDir(t), 'w'));
  const outcome = await backend(agentCmd()).run(fakeTask({ mode: 'no-result' }), ctx);
  assert.deepEqual(outcome, { status: 'completed', result: { exit_code: 0 } });
});

test('a non-zero exit fails with the exit code and the last 20 lines of stderr', async (t) => {
  const ctx = recordingContext(join(scratchDir(t), 'w'));
  const outcome = await backend(agentCmd()).run(fakeTask({ mode: 'fail' }), ctx);
  const error = errorOf(outcome);
  assert.equal(error.reason, 'exit_code');
  assert.equal(error.exit_code, 3);
  assert.equal(error.signal, null);
  const tail = error.stderr_tail as string[];
  assert.equal(tail.length, 20);
  assert.equal(tail[0], 'problem line 11');
  assert.equal(tail[19], 'problem line 30');
});

test('a result file that is not JSON fails the run with a clear error', async (t) => {
  const ctx = recordingContext(join(scratchDir(t), 'w'));
  const outcome = await backend(agentCmd()).run(fakeTask({ mode: 'bad-json' }), ctx);
  const error = errorOf(outcome);
  assert.equal(error.reason, 'invalid_result');
  assert.match(String(error.message), /RESULT_FILE does not hold valid JSON/);
});

test('argv placeholders are substituted per element; task values reach the environment', async (t) => {
  const workDir = join(scratchDir(t), 'runs', 'x', 'attempt-1');
  const ctx = recordingContext(workDir, { EXTRA: 'from ctx.env' });
  const task = fakeTask({ problem_id: 'astronomy_shop-detection-1', mode: 'echo' });
  const cmd = JSON.stringify([
    process.execPath,
    AGENT,
    '{task_id}',
    '--problem={problem_id}',
    '{max_steps}',
    '{attempt}',
    '{result_file}',
    '{workdir}',
    '{unknown}',
  ]);
  const prev = process.env.DATABASE_URL;
  process.env.DATABASE_URL = 'postgres://secret@db/prod';
  t.after(() => {
    if (prev === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = prev;
  });
  const outcome = await backend(cmd).run(task, ctx);
  assert.equal(outcome.status, 'completed');
  const r = (outcome as { result: unknown }).result as {
    argv: string[];
    env: Record<string, string | null>;
    cwd: string;
  };
  const resultFile = join(workDir, 'result.json');
  assert.deepEqual(r.argv, [
    task.id,
    '--problem=astronomy_shop-detection-1',
    '7',
    '1',
    resultFile,
    workDir,
    '{unknown}',
  ]);
  assert.equal(r.cwd, workDir, 'runs in its own working directory, created for it');
  assert.equal(r.env.TASK_ID, task.id);
  assert.equal(r.env.PROBLEM_ID, 'astronomy_shop-detection-1');
  assert.equal(r.env.MAX_STEPS, '7');
  assert.equal(r.env.TIMEOUT_MINUTES, '30');
  assert.equal(r.env.ATTEMPT, '1');
  assert.equal(r.env.WORKER_ID, 'worker-001-internal');
  assert.deepEqual(JSON.parse(r.env.AGENT_CONFIG!), { model: 'scripted' });
  assert.deepEqual(JSON.parse(r.env.TASK_PARAMETERS!), task.parameters);
  assert.equal(r.env.RESULT_FILE, resultFile);
  assert.equal(r.env.WORK_DIR, workDir);
  assert.equal(r.env.EXTRA, 'from ctx.env');
  assert.equal(r.env.DATABASE_URL, null, 'server secrets stay in the server');
});

test('the agent gets the gateway as its OpenAI endpoint and never the server’s upstream keys', async (t) => {
  const saved = { ...process.env };
  Object.assign(process.env, {
    OPENAI_API_KEY: 'sk-server-secret-abc123',
    OPENROUTER_API_KEY: 'or-server-secret-abc123',
    MY_VLLM_KEY: 'vllm-server-secret-abc123',
  });
  t.after(() => {
    for (const k of ['OPENAI_API_KEY', 'OPENROUTER_API_KEY', 'MY_VLLM_KEY']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  const upstreams = {
    vllm: { base_url: 'http://127.0.0.1:1/v1', kind: 'vllm' as const, api_key_env: 'MY_VLLM_KEY' },
  };
  const b = new CommandBackend({
    COMMAND_BACKEND_CMD: agentCmd(),
    COMMAND_KILL_GRACE_MS: 5000,
    LLM_UPSTREAMS: upstreams,
  });
  const envOf = async (llm: { baseUrl: string; apiKey: string } | null) => {
    const outcome = await b.run(
      fakeTask({ mode: 'echo' }),
      recordingContext(join(scratchDir(t), 'w'), {}, llm),
    );
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    return (outcome as unknown as { result: { env: Record<string, string | null> } }).result.env;
  };
  const withGateway = await envOf({ baseUrl: 'http://127.0.0.1:8000/llm/v1', apiKey: 'te1.task-token' });
  assert.equal(withGateway.OPENAI_BASE_URL, 'http://127.0.0.1:8000/llm/v1');
  assert.equal(withGateway.OPENAI_API_KEY, 'te1.task-token');
  assert.equal(withGateway.OPENAI_COMPATIBLE_BASE_URL, 'http://127.0.0.1:8000/llm/v1');
  assert.equal(withGateway.OPENAI_COMPATIBLE_API_KEY, 'te1.task-token');
  assert.equal(withGateway.OPENAI_COMPATIBLE_MODEL, 'scripted');
  assert.equal(withGateway.OPENROUTER_API_KEY, null);
  assert.equal(withGateway.MY_VLLM_KEY, null, 'keys named by LLM_UPSTREAMS api_key_env are removed too');
  const without = await envOf(null);
  assert.equal(without.OPENAI_API_KEY, null, 'no gateway: still no server key');
  assert.equal(without.OPENROUTER_API_KEY, null);
});

test('a shell line gets task values only through the environment, never spliced into its text', async (t) => {
  const dir = scratchDir(t);
  const ctx = recordingContext(join(dir, 'w'));
  const evil = `x$(touch ${join(dir, 'pwned')})`;
  const outcome = await backend('echo "problem=$PROBLEM_ID {problem_id}"').run(
    fakeTask({ problem_id: evil }),
    ctx,
  );
  assert.equal(outcome.status, 'completed');
  assert.equal(existsSync(join(dir, 'pwned')), false);
  assert.deepEqual(
    ctx.lines.map((l) => l.message),
    [`problem=${evil} {problem_id}`],
  );
});

test('stdout lines log at info and stderr lines at warning, with their source', async (t) => {
  const ctx = recordingContext(join(scratchDir(t), 'w'));
  await backend(agentCmd()).run(fakeTask({ problem_id: 'p-1', mode: 'ok' }), ctx);
  // The two streams are read independently, so only each one's own order is defined.
  const seen = ctx.lines.map(({ level, message, source }) => ({ level, message, source }));
  assert.equal(seen.length, 2);
  assert.deepEqual(
    seen.find((l) => l.source === 'stdout'),
    { level: 'info', message: 'solving p-1', source: 'stdout' },
  );
  assert.deepEqual(
    seen.find((l) => l.source === 'stderr'),
    { level: 'warning', message: 'a note on stderr', source: 'stderr' },
  );
});

test('a very long output line is cut at 16 KiB with a marker, and the next line is intact', async (t) => {
  const ctx = recordingContext(join(scratchDir(t), 'w'));
  await backend(agentCmd()).run(fakeTask({ mode: 'long' }), ctx);
  assert.equal(ctx.lines.length, 2);
  assert.ok(ctx.lines[0]!.message.startsWith('x'.repeat(16 * 1024)));
  assert.ok(ctx.lines[0]!.message.length < 17 * 1024);
  assert.match(ctx.lines[0]!.message, /truncated/);
  assert.equal(ctx.lines[1]!.message, 'after the long line');
});

test('without COMMAND_BACKEND_CMD a run fails with a message naming the variable', async (t) => {
  const ctx = recordingContext(join(scratchDir(t), 'w'));
  const outcome = await createBackend('command', loadConfig({})).run(fakeTask(), ctx);
  assert.equal(outcome.status, 'failed');
  assert.match(JSON.stringify(outcome), /COMMAND_BACKEND_CMD/);
});

test('a program that cannot be started fails the run', async (t) => {
  const ctx = recordingContext(join(scratchDir(t), 'w'));
  // A program from a placeholder is known only per task, so only the spawn can find it missing.
  const outcome = await backend('["/nonexistent/{problem_id}"]').run(fakeTask(), ctx);
  assert.equal(errorOf(outcome).reason, 'spawn_failed');
});

test('cancel stops the whole process group, grandchildren included', async (t) => {
  const workDir = join(scratchDir(t), 'w');
  const ctx = recordingContext(workDir);
  const running = backend(agentCmd()).run(fakeTask({ mode: 'tree' }), ctx);
  const pids = await until(() => readPids(workDir), 'the fixture to write its pids');
  assert.ok(isAlive(pids.leader) && isAlive(pids.grandchild));
  ctx.stop('cancel');
  const outcome = await running;
  assert.equal(errorOf(outcome).reason, 'cancel');
  await until(() => !isAlive(pids.grandchild), 'the grandchild to be gone');
  assert.equal(isAlive(pids.leader), false);
});

test('a program that ignores SIGTERM is killed once the grace runs out', async (t) => {
  const workDir = join(scratchDir(t), 'w');
  const ctx = recordingContext(workDir);
  const running = backend(agentCmd(), 300).run(fakeTask({ mode: 'stubborn' }), ctx);
  const pids = await until(() => readPids(workDir), 'the fixture to write its pids');
  ctx.stop('timeout');
  const outcome = await running;
  assert.equal(errorOf(outcome).reason, 'timeout');
  assert.equal(errorOf(outcome).signal, 'SIGKILL');
  await until(() => !isAlive(pids.grandchild) && !isAlive(pids.leader), 'the group to be gone');
});

test('what a program leaves running in its group is stopped when it exits', async (t) => {
  const workDir = join(scratchDir(t), 'w');
  const ctx = recordingContext(workDir);
  const outcome = await backend(agentCmd()).run(fakeTask({ mode: 'orphan' }), ctx);
  assert.equal(outcome.status, 'completed');
  const pids = readPids(workDir);
  assert.ok(pids);
  await until(() => !isAlive(pids.grandchild), 'the left-behind sleep to be stopped');
});

test('the command line is a JSON argv when it starts with [, else a shell line', () => {
  assert.deepEqual(parseCommandLine(' ["python", "-m", "agent"] '), { argv: ['python', '-m', 'agent'] });
  assert.deepEqual(parseCommandLine('python -m agent "$PROBLEM_ID"'), {
    shell: 'python -m agent "$PROBLEM_ID"',
  });
  assert.throws(() => parseCommandLine('[1, 2]'), /COMMAND_BACKEND_CMD/);
  assert.throws(() => parseCommandLine('["unclosed"'), /COMMAND_BACKEND_CMD/);
  assert.equal(substitute('{a}-{b}-{a}', { a: '1' }), '1-{b}-1');
});

test('an unknown backend type is refused with the list of known ones', () => {
  assert.throws(
    () => createBackend('kubernetes', loadConfig({})),
    /Unknown backend type "kubernetes".*command/,
  );
});
