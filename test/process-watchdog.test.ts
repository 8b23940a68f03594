/**
 * A command never outlives its worker: kill -9 a real remote worker process (and, the same
 * mechanism, a real API process with in-process workers) while its command runs a tree of
 * processes — one of them ignoring SIGTERM — and every process of that tree, the supervisor
 * included, is gone within a bounded wait. Real server, real CLI processes, real `sh`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { until } from './fixtures/worker-helpers.ts';
import { dbModes } from './helpers/db.ts';
import { type CliProcess, type ServeProcess, startCli, startServe } from './helpers/process.ts';

// One database mode is enough here: what is under test is process handling, not SQL.
const MODE = dbModes().at(-1)!;

/**
 * The command: a shell that records its parent (the supervisor), itself, a background
 * `sleep`, and a background `sleep` that ignores SIGTERM (only SIGKILL ends it), then waits.
 * The pid file is renamed into place once complete.
 */
const TREE = [
  'f="$WORK_DIR/pids"',
  'echo "$PPID $$" > "$f.tmp"',
  'sleep 300 & echo $! >> "$f.tmp"',
  `sh -c 'trap "" TERM; exec sleep 300' & echo $! >> "$f.tmp"`,
  'mv "$f.tmp" "$f.txt"',
  'wait',
].join('\n');

const COMMAND_ENV = {
  INTERNAL_WORKER_BACKEND: 'command',
  COMMAND_BACKEND_CMD: TREE,
  COMMAND_KILL_GRACE_MS: '500',
  HEARTBEAT_INTERVAL: '1',
};

/** Running, and not a zombie (in a container PID 1 may never reap the orphans it inherits). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

function readTree(workDir: string): number[] | undefined {
  try {
    const pids = readFileSync(join(workDir, 'pids.txt'), 'utf8').split(/\s+/).filter(Boolean).map(Number);
    return pids.length === 4 ? pids : undefined;
  } catch {
    return undefined;
  }
}

async function submit(base: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ problem_id: 'orphan-check', backend_type: 'command' }),
  });
  const body = (await res.json()) as { id: string };
  assert.equal(res.status, 201, JSON.stringify(body));
  return body.id;
}

/** Waits for the tree, checks it is alive, SIGKILLs `victim`, and waits for the tree to be gone. */
async function killAndCheck(t: TestContext, victim: CliProcess, workDir: string): Promise<void> {
  const pids = await until(() => readTree(workDir), 'the command to record its process tree', 60_000);
  // Should an assertion fail, leave no sleeper behind.
  t.after(() => {
    for (const pid of pids)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
  });
  for (const pid of pids) assert.ok(alive(pid), `pid ${pid} runs before the kill`);
  assert.equal(await victim.stop('SIGKILL'), null);
  // Bounded: the grace is 500 ms; the wait allows for a slow machine.
  await until(() => pids.every((pid) => !alive(pid)), `every pid of ${pids.join(' ')} to be gone`, 30_000);
}

test('kill -9 of a remote worker stops its command and everything the command started', async (t) => {
  const serve: ServeProcess = await startServe(MODE, { NUM_INTERNAL_WORKERS: '0' });
  t.after(() => serve.close());
  const dataDir = mkdtempSync(join(tmpdir(), 'te-watchdog-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const worker = startCli(
    ['worker', '--api-url', serve.base, '--id', 'worker-007-kind', '--backend-type', 'command'],
    { DATA_DIR: dataDir, ...COMMAND_ENV },
  );
  t.after(() => worker.stop('SIGKILL'));
  const id = await submit(serve.base);
  const workDir = join(dataDir, 'runs', id, 'attempt-1');
  await killAndCheck(t, worker, workDir);
});

test('kill -9 of the API stops the commands of its in-process workers', async (t) => {
  const serve = await startServe(MODE, { NUM_INTERNAL_WORKERS: '1', ...COMMAND_ENV });
  t.after(() => serve.close());
  const id = await submit(serve.base);
  const workDir = join(serve.dataDir, 'runs', id, 'attempt-1');
  await killAndCheck(t, serve.server, workDir);
});
