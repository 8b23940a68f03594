/**
 * The CLI as a newcomer meets it (issue 16), as child processes against a real HTTP server:
 * exit statuses (0 ok, 1 error, 2 bad usage), numeric flags refused instead of defaulted,
 * `.env` read by the client commands, `--json` that parses, `cancel`, `--version`, `submit
 * --wait` that names the tasks that did not complete, and a reader that closes the pipe early.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resultLines } from '../src/cli/format.ts';
import { type Body, createTestApp, json, registerWorker, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { CLI, waitFor } from './helpers/process.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI's environment: API_URL and tokens only from what a test gives (never the caller's). */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.API_URL;
  delete env.TASK_EXECUTOR_TOKEN;
  return { ...env, ...extra };
}

function runCli(args: string[], o: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: cliEnv(o.env ?? {}), cwd: o.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as Body)
  .version;

describe('CLI usage without a server', () => {
  it('--version prints the package version and exits 0', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
  });

  it('refuses a bad number with the flag, the value and the range, and exits 2', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['submit', 'p-1', '-p', 'high'],
        /'-p, --priority <n>' argument 'high' is invalid\. Expected an integer from 0 to 10/,
      ],
      [['submit', 'p-1', '--max-steps', 'abc'], /'--max-steps <n>' argument 'abc' is invalid/],
      [['submit', 'p-1', '--timeout-minutes', '1.5'], /'--timeout-minutes <n>' argument '1\.5'/],
      [['submit', 'p-1', '--max-attempts', '0'], /Expected an integer from 1 to 100/],
      [['logs', 'x', '-n', '-3'], /'-n, --limit <n>' argument '-3'/],
      [['experiment', 'create', '--temperature', 'hot'], /Expected a number from 0 to 2/],
      [['worker', '--id', 'worker-001-kind', '--max-parallel', 'two'], /'--max-parallel <n>' argument 'two'/],
      [
        ['export', '--format', 'trajectories', '-o', join(tmpdir(), 'te-never.jsonl'), '--min-reward', 'abc'],
        /'--min-reward <value>' argument 'abc' is invalid\. Expected a number/,
      ],
    ];
    for (const [args, message] of cases) {
      // No server at this address: a value that slipped through would end in exit 1 instead.
      const r = await runCli([...args, '--api-url', 'http://127.0.0.1:9']);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('exits 2 for an unknown option, a missing argument or a malformed label', async () => {
    for (const args of [['submit', 'p-1', '--bogus'], ['cancel'], ['submit', 'p-1', '--label', 'novalue']]) {
      const r = await runCli([...args, '--api-url', 'http://127.0.0.1:9']);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /error:/);
    }
  });

  it('shows an episode result as its outcome, not its trace, and clips other long results', () => {
    const episode = resultLines({
      end_reason: 'submitted',
      steps: 6,
      solution: [],
      results: { TTM: 1.04, success: true },
      conversation_id: 'c-1',
      trace: [{ role: 'env', content: 'x'.repeat(5000) }],
    });
    assert.deepEqual(episode, [
      'end:         submitted after 6 steps; solution: []',
      'evaluation:  TTM: 1.04, success: true',
      'conversation: GET /api/v1/llm-conversations/c-1 (calls: …/c-1/calls)',
    ]);
    const [long] = resultLines({ output: 'y'.repeat(3000) });
    assert.match(String(long), /^result: {6}\{"output":"y+… \(3013 chars; --json shows it all\)$/);
    assert.deepEqual(resultLines({ ok: true }), ['result:      {"ok":true}']);
  });

  it('exits 1 when the API cannot be reached', async () => {
    const r = await runCli(['status', '--api-url', 'http://127.0.0.1:9']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Cannot reach the API at http:\/\/127\.0\.0\.1:9/);
  });
});

for (const mode of dbModes()) {
  describe(`CLI against a server (${mode})`, () => {
    let t: TestApp;
    let dir: string;
    before(async () => {
      t = await createTestApp(mode, { listen: true });
      dir = mkdtempSync(join(tmpdir(), 'te-cli-'));
      await registerWorker(t, 'worker-001-kind');
    });
    after(async () => {
      await t?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const api = (args: string[]) => runCli([...args, '--api-url', t.url]);
    const tasks = async (): Promise<Body[]> =>
      json<Body>(await t.inject({ method: 'GET', url: '/api/v1/tasks?limit=1000' })).tasks;

    it('submit --json prints the created tasks as JSON; a refused number creates nothing', async () => {
      const before = (await tasks()).length;
      const refused = await api(['submit', 'p-1', '-p', 'high']);
      assert.equal(refused.code, 2);
      assert.equal((await tasks()).length, before);
      const r = await api(['submit', 'p-1', 'p-2', '-p', '7', '--max-steps', '12', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const created = JSON.parse(r.stdout) as Body[];
      assert.deepEqual(
        created.map((c) => [c.problem_id, c.priority, c.parameters.max_steps]),
        [
          ['p-1', 7, 12],
          ['p-2', 7, 12],
        ],
      );
    });

    it('reads API_URL from .env in the working directory; a real variable wins', async () => {
      writeFileSync(join(dir, '.env'), `API_URL=${t.url}\n`);
      const fromFile = await runCli(['status', '--json'], { cwd: dir });
      assert.equal(fromFile.code, 0, fromFile.stderr);
      const overview = JSON.parse(fromFile.stdout) as Body;
      assert.equal(typeof overview.stats.total, 'number');
      assert.ok(Array.isArray(overview.recent));
      const real = await runCli(['status'], { cwd: dir, env: { API_URL: 'http://127.0.0.1:9' } });
      assert.equal(real.code, 1);
      assert.match(real.stderr, /Cannot reach the API at http:\/\/127\.0\.0\.1:9/);
    });

    it('status without an id prints the queue and a table of the newest tasks', async () => {
      const r = await api(['status']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split('\n');
      assert.match(lines[0]!, /^queue: \d+ tasks \(pending \d+, running \d+, completed \d+/);
      const header = lines.findIndex((l) => l.startsWith('ID '));
      assert.match(lines[header]!, /^ID\s+STATUS\s+PRIO\s+PROBLEM\s+WORKER\s+CREATED/);
      assert.match(
        lines[header + 1]!,
        /^[0-9a-f-]{36}\s+pending\s+7\s+p-2\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/,
      );
    });

    it('cancel prints an outcome per task and exits 1 unless every one was cancelled', async () => {
      const [a, b] = (await tasks()).filter((x) => x.status === 'pending');
      const r = await api(['cancel', a!.id, b!.id]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), [`${a!.id}  cancelled`, `${b!.id}  cancelled`]);
      const unknown = '00000000-0000-4000-8000-000000000000';
      const again = await api(['cancel', a!.id, unknown, '--json']);
      assert.equal(again.code, 1);
      assert.deepEqual(
        (JSON.parse(again.stdout) as Body[]).map((o) => [o.task_id, o.outcome, o.status]),
        [
          [a!.id, 'not_cancellable', 'cancelled'],
          [unknown, 'not_found', null],
        ],
      );
    });

    it('submit --wait counts each task once, lists those that did not complete and exits 1', async () => {
      const wait = runCli(['submit', 'w-1', 'w-2', 'w-3', '--wait', '--json', '--api-url', t.url]);
      const mine = await waitFor(async () => {
        const list = (await tasks()).filter((x) => String(x.problem_id).startsWith('w-'));
        return list.length === 3 ? list : undefined;
      }, 'the three tasks');
      const byProblem = new Map(mine.map((x) => [x.problem_id as string, x.id as string]));
      await settle(t, byProblem.get('w-1')!, 'complete');
      await settle(t, byProblem.get('w-2')!, 'fail');
      const cancel = await t.inject({ method: 'POST', url: `/api/v1/tasks/${byProblem.get('w-3')}/cancel` });
      assert.equal(cancel.statusCode, 200, cancel.body);
      const r = await wait;
      assert.equal(r.code, 1, r.stderr);
      const summary = JSON.parse(r.stdout) as Body;
      assert.deepEqual(summary.counts, { completed: 1, failed: 1, cancelled: 1 });
      assert.deepEqual(summary.not_completed.map((x: Body) => [x.problem_id, x.status]).sort(), [
        ['w-2', 'failed'],
        ['w-3', 'cancelled'],
      ]);
      assert.match(summary.not_completed.find((x: Body) => x.problem_id === 'w-2').error, /boom/);
      // Every progress line adds up: done + pending + running is the batch.
      for (const line of r.stderr.trim().split('\n')) {
        const m = /^(\d+)\/3 done {2}(.*)$/.exec(line);
        assert.ok(m, line);
        const sum = m[2]!.split(' ').reduce((n, part) => n + Number(part.split(':')[1]), 0);
        assert.equal(sum, 3, line);
      }
    });

    it('submit --wait exits 0 when every task completed, also for a task its idempotency key found', async () => {
      const args = ['submit', 'ok-1', '--idempotency-key', 'ok-once', '--wait', '--api-url', t.url];
      const wait = runCli(args);
      const id = await waitFor(
        async () => (await tasks()).find((x) => x.problem_id === 'ok-1')?.id as string | undefined,
        'the task',
      );
      await settle(t, id, 'complete');
      const r = await wait;
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /did not complete/);
      // The same key again: the API returns the finished task, which carries the first run's label.
      const again = await runCli(args);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /^1\/1 done {2}completed:1$/m);
    });

    it('a reader that closes the pipe early ends the CLI quietly with 0', async () => {
      const child = spawn(process.execPath, [CLI, 'status', '--json', '--api-url', t.url], {
        env: cliEnv({}),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // `| head -c 0`: the reading end is gone before the CLI has written a byte.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(stderr, '');
      assert.equal(code, 0);
    });
  });
}

/** Claims the task for worker-001-kind and reports it completed, or failed with "boom". */
async function settle(t: TestApp, taskId: string, how: 'complete' | 'fail'): Promise<void> {
  const claim = await t.inject({ method: 'POST', url: '/api/v1/workers/worker-001-kind/claim' });
  assert.equal(json<Body>(claim).id, taskId, 'the oldest pending task is claimed first');
  const payload = how === 'complete' ? { result: { ok: true } } : { error: 'boom' };
  const res = await t.inject({
    method: 'POST',
    url: `/api/v1/workers/worker-001-kind/tasks/${taskId}/${how}`,
    payload,
  });
  assert.equal(res.statusCode, 200, res.body);
}
