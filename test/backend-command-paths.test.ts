/**
 * COMMAND_BACKEND_CMD written as a user writes it, in the folder they start the server from:
 * relative paths reach the files next to them although the command runs in its attempt
 * directory, and a command that cannot run is refused at start, with the reason, rather than
 * failing task after task. Real child processes.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { CommandBackend } from '../src/backends/command.ts';
import { prepareCommand, resolveArgv } from '../src/backends/command-line.ts';
import { fakeTask, recordingContext, scratchDir } from './fixtures/worker-helpers.ts';

/**
 * A start folder holding `report.mjs`, which writes its cwd, argv and START_DIR to the result
 * file (its first argument) and prints the first line of any file named after it.
 */
function startFolder(t: TestContext): string {
  const dir = scratchDir(t, 'te-start-dir-');
  const script = `import { readFileSync, writeFileSync } from 'node:fs';
const [out, ...rest] = process.argv.slice(2);
for (const a of rest) if (a.endsWith('.yaml')) console.log(readFileSync(a, 'utf8').split('\\n')[0]);
writeFileSync(out, JSON.stringify({ cwd: process.cwd(), args: rest, start_dir: process.env.START_DIR }));
`;
  writeFileSync(join(dir, 'report.mjs'), script);
  mkdirSync(join(dir, 'configs'));
  writeFileSync(join(dir, 'configs', 'agent.yaml'), 'model: scripted\n');
  return dir;
}

const backendIn = (startDir: string, cmd: string) =>
  new CommandBackend({ COMMAND_BACKEND_CMD: cmd, COMMAND_KILL_GRACE_MS: 2000 }, startDir);

async function runIn(t: TestContext, startDir: string, cmd: string) {
  const workDir = join(scratchDir(t), 'runs', 'task', 'attempt-1');
  const ctx = recordingContext(workDir);
  const outcome = await backendIn(startDir, cmd).run(fakeTask(), ctx);
  assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
  return { workDir, ctx, result: (outcome as { result: Record<string, unknown> }).result };
}

test('a script named relative to the start folder runs although the command runs in its attempt directory', async (t) => {
  const start = startFolder(t);
  const cmd = JSON.stringify([
    process.execPath,
    'report.mjs',
    '{result_file}',
    'configs/agent.yaml',
    '--flag',
  ]);
  const { workDir, ctx, result } = await runIn(t, start, cmd);
  assert.equal(result.cwd, workDir, 'it still runs in the attempt directory');
  assert.deepEqual(result.args, [join(start, 'configs', 'agent.yaml'), '--flag']);
  assert.equal(result.start_dir, start);
  assert.deepEqual(
    ctx.lines.map((l) => l.message),
    ['model: scripted'],
    'the relative config file was read from the start folder',
  );
});

test('a relative program path (./run.sh) is resolved against the start folder', async (t) => {
  const start = startFolder(t);
  writeFileSync(
    join(start, 'run.sh'),
    `#!/bin/sh\nexec "${process.execPath}" "$START_DIR/report.mjs" "$@"\n`,
  );
  chmodSync(join(start, 'run.sh'), 0o755);
  const { result } = await runIn(t, start, JSON.stringify(['./run.sh', '{result_file}', 'plain-word']));
  assert.deepEqual(result.args, ['plain-word'], 'a word naming no file is passed as written');
});

test('a shell line runs as written in the attempt directory, with START_DIR for paths', async (t) => {
  const start = startFolder(t);
  const { workDir, result } = await runIn(
    t,
    start,
    `"${process.execPath}" "$START_DIR/report.mjs" "$RESULT_FILE"`,
  );
  assert.equal(result.cwd, workDir);
  assert.equal(result.start_dir, start);
});

test('options, placeholders and absolute paths are left as written', (t) => {
  const start = startFolder(t);
  assert.deepEqual(
    resolveArgv(['python3', '-m', 'report.mjs', '{workdir}/report.mjs', '/abs/x', 'report.mjs'], start),
    ['python3', '-m', join(start, 'report.mjs'), '{workdir}/report.mjs', '/abs/x', join(start, 'report.mjs')],
  );
  assert.deepEqual(resolveArgv(['bin/agent', '--out=report.mjs'], start), [
    join(start, 'bin/agent'),
    '--out=report.mjs',
  ]);
});

test('a command that cannot run is refused before any task, saying why', (t) => {
  const start = startFolder(t);
  const problem = (cmd: string, path?: string) => {
    const p = prepareCommand(cmd, start, path);
    return p.ok ? null : p.problem;
  };
  assert.match(String(problem('')), /COMMAND_BACKEND_CMD is not set/);
  assert.match(String(problem('["node",')), /starts with "\[" but is not valid JSON/);
  assert.match(String(problem('[]')), /non-empty array of strings/);
  assert.match(
    String(problem('["./missing.sh"]')),
    new RegExp(`the program ${start}/missing.sh does not exist`),
  );
  assert.match(
    String(problem('["no-such-program-x"]', '/nonexistent')),
    /"no-such-program-x" is not on PATH/,
  );
  assert.equal(problem(JSON.stringify([process.execPath, 'report.mjs'])), null);
  assert.equal(problem('anything at all | sh'), null, 'a shell line is only checked when it runs');

  const backend = backendIn(start, '["./missing.sh"]');
  assert.match(String(backend.unavailable()), /missing\.sh does not exist/);
  assert.equal(backendIn(start, JSON.stringify([process.execPath])).unavailable(), null);
});
