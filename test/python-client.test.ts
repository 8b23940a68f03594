/**
 * The Python client (clients/python) against a real server: its unittest suite, the README's
 * GRPO loop as a child process while this test finishes tasks through the queue, resuming
 * through a proxy that drops, cuts and refuses connections (the cursors it delivered must be
 * the database's feed exactly), giving up with the cursor, and the errors it raises.
 */
import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Body, createTestApp, json, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { waitFor } from './helpers/process.ts';
import { addWorker } from './helpers/queue-fixtures.ts';
import { type Program, pythonEnv, requirePython3, runProgram, startProgram } from './helpers/seed.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

const CLIENT_DIR = fileURLToPath(new URL('../clients/python', import.meta.url));
const SCRIPTS = fileURLToPath(new URL('./fixtures/python-client/', import.meta.url));
const PYTHON = 'python3';
const DETECTION = 'sandbox-revoke_auth_mongodb-detection-1';
const WORKER = 'worker-001-sandbox';
const TOKEN = 'client-token-python-tests';
const API_TOKENS = `client:${TOKEN}`;
const TERMINAL = ['completed', 'failed', 'timeout', 'cancelled'];

const requirePython = () => requirePython3('clients/python');

const clientEnv = () => pythonEnv({ PYTHONPATH: CLIENT_DIR });

function python(script: string, args: string[]): Program {
  return startProgram(PYTHON, [`${SCRIPTS}${script}`, ...args], { env: clientEnv(), maxMs: 120_000 });
}

/** The JSON lines a script has printed so far. */
const linesOf = (p: Program): Body[] =>
  p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Body);

/** Waits (bounded) until the printed lines satisfy `pred`, and returns them. */
const waitForLines = (p: Program, what: string, pred: (lines: Body[]) => boolean) =>
  waitFor(
    async () => {
      const lines = linesOf(p);
      return pred(lines) ? lines : undefined;
    },
    what,
    30_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; output:\n${p.output()}`);
  });

describe('python client unit tests', () => {
  it('passes its unittest suite (SSE parser, reconnects, groups, query)', async () => {
    requirePython();
    const { code, output } = await runProgram(PYTHON, ['-m', 'unittest', 'discover', '-s', 'tests'], {
      env: clientEnv(),
      cwd: CLIENT_DIR,
      maxMs: 120_000,
    });
    assert.equal(code, 0, output);
    assert.match(output, /^OK$/m);
    assert.ok(Number(/Ran (\d+) tests?/.exec(output)?.[1]) > 0, output);
  });
});

for (const mode of dbModes()) {
  describe(`python client against the server (${mode})`, () => {
    let t: TestApp;
    let proxy: TcpProxy | undefined;
    before(requirePython);
    beforeEach(async () => {
      t = await createTestApp(mode, { listen: true, env: { API_TOKENS, FEED_POLL_MS: '20' } });
      await addWorker(t.queue, WORKER, { max_parallel: 50 });
    });
    afterEach(async () => {
      await proxy?.close();
      proxy = undefined;
      await t.close();
    });

    const headers = { authorization: `Bearer ${TOKEN}` };
    const createExperiment = async (body: Body) => {
      const res = await t.inject({ method: 'POST', url: '/api/v1/experiments', payload: body, headers });
      assert.equal(res.statusCode, 201, res.body);
      return json<Body>(res);
    };
    const postReward = async (taskId: string, value: number) => {
      const res = await t.inject({
        method: 'POST',
        url: `/api/v1/tasks/${taskId}/rewards`,
        payload: { name: 'judge', value },
        headers,
      });
      assert.equal(res.statusCode, 201, res.body);
    };
    /** Claims and finishes `n` tasks as a sandbox worker would: completed (reward 1) or failed. */
    const finish = async (n: number, outcome: 'completed' | 'failed' = 'completed') => {
      const claimed = await t.queue.claim(WORKER, n);
      assert.equal(claimed.length, n);
      await Promise.all(
        claimed.map((task) =>
          outcome === 'completed'
            ? t.queue.complete(WORKER, task.id, task.attempt, {
                task_type: 'detection',
                results: { 'Detection Accuracy': 'Correct' },
              })
            : t.queue.fail(WORKER, task.id, task.attempt, { reason: 'boom', message: 'boom' }),
        ),
      );
      return claimed;
    };
    /** The trajectory feed of an experiment as the database holds it, in cursor order. */
    const feedCursors = async (experimentId: string) =>
      (
        await t.db.query<{ cursor: string; kind: string; status: string | null }>(
          `SELECT txid::text || '-' || id AS cursor, kind, status FROM feed_events
           WHERE experiment_id = $1 ORDER BY txid, id`,
          [experimentId],
        )
      ).rows
        .filter((r) => r.kind !== 'task.status' || TERMINAL.includes(r.status ?? ''))
        .map((r) => r.cursor);

    it('runs the GRPO loop: each group once complete, with its trajectories, then re-scored rewards', async () => {
      const py = python('grpo_loop.py', [t.url, TOKEN, DETECTION, '3']);
      try {
        const lines = await waitForLines(py, 'the experiment line', (l) => l.some((x) => x.experiment));
        const head = lines.find((x) => x.experiment);
        assert.equal(head!.group_count, 2);
        assert.equal(head!.task_count, 6);
        // All six at once: concurrent finishes are what can order group.completed before a member.
        await Promise.all([finish(3), finish(3, 'failed')]);
        assert.equal(await py.exited, 0, py.output());
      } finally {
        await py.stop('SIGKILL');
      }
      const lines = linesOf(py);
      const groups = lines.filter((l) => l.group);
      assert.equal(groups.length, 2, py.output());
      for (const g of groups) {
        const members = (
          await t.db.query<{ id: string; status: string }>(
            'SELECT id, status FROM tasks WHERE group_id = $1 ORDER BY repetition',
            [g.group],
          )
        ).rows;
        assert.deepEqual(
          g.tasks,
          members.map((m) => m.id),
        );
        assert.deepEqual(
          g.statuses,
          members.map((m) => m.status),
        );
        assert.deepEqual(g.policy_versions, [3, 3, 3]);
        assert.equal(g.size, 3);
        assert.equal(g.has_conversations, true);
        // Group-relative: the advantages of a group sum to zero.
        assert.ok(Math.abs(g.advantages.reduce((a: number, b: number) => a + b, 0)) < 1e-9);
      }
      assert.deepEqual(groups.flatMap((g) => g.rewards).sort(), [0, 0, 0, 1, 1, 1]);
      const stored = (
        await t.db.query<{ task_id: string; value: number; written_by: string }>(
          `SELECT task_id::text, value, written_by FROM task_rewards WHERE name = 'rescored' ORDER BY id`,
        )
      ).rows;
      const posted = groups.flatMap((g) => g.tasks.map((id: string, i: number) => [id, g.advantages[i]]));
      assert.deepEqual(
        stored.map((r) => [r.task_id, r.value]),
        posted,
      );
      assert.ok(stored.every((r) => r.written_by === 'client'));
      const done = lines.find((l) => l.done)!;
      assert.equal(done.experiment.progress.groups_complete, 2);
      assert.equal(done.rewards.rewards[0].name, 'rescored');
      assert.deepEqual(done.rewards.rewards[0].details, { policy_version: 4 });
    });

    it('resumes through dropped, cut and refused connections with exactly the database feed', async () => {
      const exp = await createExperiment({
        name: 'resume',
        problems: [DETECTION],
        backend_type: 'sandbox',
        agent_configs: [{ model: 'a' }, { model: 'b' }],
        repetitions: 5,
      });
      proxy = await startTcpProxy(t.url);
      // 10 trajectories, 2 group.completed, 2 reward.updated.
      const py = python('follow.py', [proxy.url, TOKEN, exp.id, '14', '50']);
      const events = () => linesOf(py).filter((l) => l.event);
      const atLeast = (n: number) => waitForLines(py, `${n} events`, () => events().length >= n);
      try {
        const [first] = await finish(3);
        await atLeast(3);
        proxy.dropAll();
        await finish(3);
        await atLeast(6);
        proxy.cutNextFrame();
        await finish(2);
        await atLeast(8);
        assert.equal(proxy.cuts, 1);
        // The server "restarts": connections refused for a while, the client keeps trying.
        proxy.refuse(true);
        proxy.dropAll();
        await finish(2, 'failed');
        await waitFor(async () => proxy!.refused >= 2, 'refused reconnects');
        proxy.refuse(false);
        await atLeast(12);
        await postReward(first!.id, 0.5);
        await postReward(first!.id, 0.75);
        assert.equal(await py.exited, 0, py.output());
      } finally {
        await py.stop('SIGKILL');
      }
      const cursors = events().map((e) => e.cursor);
      assert.deepEqual(cursors, await feedCursors(exp.id));
      assert.equal(new Set(cursors).size, cursors.length);
      for (const e of events()) assert.equal(e.cursor, e.data_cursor);
      assert.deepEqual(
        events()
          .map((e) => e.event)
          .filter((n) => n !== 'trajectory'),
        ['group.completed', 'group.completed', 'reward.updated', 'reward.updated'],
      );
      const done = linesOf(py).find((l) => l.done)!;
      assert.ok(done.reconnects >= 3, py.output());
      assert.equal(done.cursor, cursors.at(-1));
    });

    it('gives up after the configured failed reconnects in a row, with the cursor to resume from', async () => {
      const exp = await createExperiment({
        name: 'gone',
        problems: [DETECTION],
        backend_type: 'sandbox',
        agent_configs: [{}],
        repetitions: 4,
      });
      proxy = await startTcpProxy(t.url);
      const py = python('follow.py', [proxy.url, TOKEN, exp.id, '100', '3']);
      try {
        await finish(2);
        await waitForLines(py, 'two events', (l) => l.filter((x) => x.event).length >= 2);
        proxy.refuse(true);
        proxy.dropAll();
        assert.equal(await py.exited, 3, py.output());
      } finally {
        await py.stop('SIGKILL');
      }
      const delivered = linesOf(py).filter((l) => l.event);
      const gaveUp = linesOf(py).find((l) => l.gave_up)!;
      assert.equal(gaveUp.attempts, 3);
      assert.equal(gaveUp.cursor, delivered.at(-1)!.cursor);
      assert.match(
        gaveUp.message,
        /gave up after 3 failed connection attempts in a row \(resume with after=/,
      );
      assert.equal(proxy.refused, 3);
    });

    it("raises ApiError with the server's code and details, and never retries a refusal", async () => {
      const { code, output } = await runProgram(PYTHON, [`${SCRIPTS}errors.py`, t.url, TOKEN], {
        env: clientEnv(),
        maxMs: 60_000,
      });
      assert.equal(code, 0, output);
      const byCase = new Map(
        output
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Body)
          .map((l) => [l.case, l]),
      );
      const expect = (name: string, status: number, errorCode: string) => {
        const line = byCase.get(name);
        assert.ok(line, `${name}: ${output}`);
        assert.equal(line.raised, 'ApiError', name);
        assert.equal(line.status, status, name);
        assert.equal(line.code, errorCode, name);
        return line;
      };
      expect('no token', 401, 'UNAUTHORIZED');
      expect('no token, stream', 401, 'UNAUTHORIZED');
      expect('unknown experiment', 404, 'EXPERIMENT_NOT_FOUND');
      expect('unknown task', 404, 'TASK_NOT_FOUND');
      const body = expect('bad body', 422, 'VALIDATION_ERROR');
      assert.ok(Array.isArray(body.details.errors), JSON.stringify(body));
      const cursor = expect('bad cursor', 422, 'VALIDATION_ERROR');
      assert.equal(cursor.details.location, 'query');
      assert.match(cursor.message, /^HTTP 422 VALIDATION_ERROR: /);
    });
  });
}
