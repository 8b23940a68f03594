/**
 * Episodes end to end, as a user runs them: `task-executor serve` as a child process with
 * in-process sandbox workers, tasks submitted over HTTP, the built-in agent calling the
 * scripted models through the gateway over HTTP, everything recorded in the database
 * (PGlite, and PostgreSQL when TEST_DATABASE_URL is set).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dbModes } from './helpers/db.ts';
import { type J, json, post, solved, waitForTasks } from './helpers/episodes.ts';
import { type ServeProcess, startCli, startServe } from './helpers/process.ts';

const GOLDEN = fileURLToPath(new URL('./fixtures/golden-sandbox-transcript.json', import.meta.url));
const GOLDEN_PROBLEM = 'sandbox-k8s_target_port-misconfig-mitigation-1';

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

for (const mode of dbModes()) {
  describe(`sandbox episodes through workers, gateway and queue (${mode})`, () => {
    let serve: ServeProcess;
    let base: string;
    let problems: J[];

    before(async () => {
      serve = await startServe(mode, {
        INTERNAL_WORKER_BACKENDS: 'sandbox:2',
        INTERNAL_WORKER_MAX_PARALLEL: '4',
      });
      base = serve.base;
      const listed = await json(await fetch(`${base}/api/v1/problems?backend=sandbox`));
      problems = listed.problems;
    });

    after(() => serve?.close());

    async function runAll(model: string, ids: string[], extra: J = {}): Promise<J[]> {
      const r = await json(
        await post(base, '/api/v1/tasks/batch', {
          tasks: ids.map((problem_id) => ({ problem_id, agent_config: { model }, ...extra })),
        }),
      );
      return waitForTasks(
        base,
        r.tasks.map((t: J) => t.id),
      );
    }

    it('lists a catalogue of at least 12 problems over all four task types', () => {
      assert.ok(problems.length >= 12, `only ${problems.length} problems`);
      const types = new Set(problems.map((p) => p.task_type));
      assert.deepEqual([...types].sort(), ['analysis', 'detection', 'localization', 'mitigation']);
      for (const p of problems) {
        assert.match(p.id, /^sandbox-/);
        assert.equal(p.backend, 'sandbox');
        assert.ok(p.description);
      }
    });

    it('scripted:solver solves every problem; every call is recorded on the conversation', async () => {
      const tasks = await runAll(
        'scripted:solver',
        problems.map((p) => p.id),
      );
      for (const t of tasks) {
        assert.equal(t.status, 'completed', `${t.problem_id}: ${JSON.stringify(t.error_details)}`);
        assert.equal(t.result.end_reason, 'submitted', t.problem_id);
        assert.ok(solved(t.result), `${t.problem_id} not solved: ${JSON.stringify(t.result.results)}`);
      }
      const sample = tasks[0]!;
      const conversation = await json(
        await fetch(`${base}/api/v1/llm-conversations/${sample.result.conversation_id}`),
      );
      assert.equal(conversation.task_id, sample.id);
      const calls = await json(
        await fetch(`${base}/api/v1/llm-conversations/${sample.result.conversation_id}/calls?limit=1000`),
      );
      assert.equal(calls.calls.length, sample.result.steps, 'one gateway call per step');
      const logs = await json(await fetch(`${base}/api/v1/tasks/${sample.id}/logs?limit=1000`));
      const steps = logs.logs.filter((l: J) => l.context?.observation_head !== undefined);
      assert.equal(steps.length, sample.result.steps);
      assert.ok(
        steps.every((l: J) => l.context.call?.api),
        'every solver step parsed',
      );
    });

    it('scripted:wrong fails every problem, and the task still completes with its score', async () => {
      const tasks = await runAll(
        'scripted:wrong',
        problems.map((p) => p.id),
      );
      for (const t of tasks) {
        assert.equal(t.status, 'completed', `${t.problem_id}: ${JSON.stringify(t.error_details)}`);
        assert.ok(!solved(t.result), `${t.problem_id} should fail: ${JSON.stringify(t.result.results)}`);
      }
    });

    it('a reply that does not parse costs a step; max_steps ends the episode and it is still evaluated', async () => {
      const [t] = await runAll('scripted:echo', [problems.find((p) => p.task_type === 'detection')!.id], {
        max_steps: 3,
      });
      assert.equal(t!.status, 'completed', JSON.stringify(t!.error_details));
      assert.equal(t!.result.end_reason, 'max_steps');
      assert.equal(t!.result.steps, 3);
      assert.ok(t!.result.results, 'evaluated with no solution');
      const logs = await json(await fetch(`${base}/api/v1/tasks/${t!.id}/logs?limit=1000`));
      const parseErrors = logs.logs.filter((l: J) => l.context?.parse_error);
      assert.equal(parseErrors.length, 3);
      assert.match(parseErrors[0].context.parse_error, /^Error parsing response: /);
    });

    it('the same policy on the same problem gives the same transcript (golden file)', async () => {
      const [a, b] = await runAll('scripted:solver', [GOLDEN_PROBLEM, GOLDEN_PROBLEM]);
      assert.deepEqual(a!.result.trace, b!.result.trace);
      if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, `${JSON.stringify(a!.result.trace, null, 2)}\n`);
      const golden = JSON.parse(readFileSync(GOLDEN, 'utf8'));
      assert.deepEqual(a!.result.trace, golden, 'transcript changed; rerun with UPDATE_GOLDEN=1 if intended');
    });

    it('refuses at submit a problem the named backend does not have', async () => {
      const res = await post(base, '/api/v1/tasks', {
        problem_id: 'sandbox-no-such-problem',
        backend_type: 'sandbox',
      });
      assert.equal(res.status, 422);
      const body = (await res.json()) as J;
      assert.equal(body.code, 'VALIDATION_ERROR');
      assert.equal(body.details.errors[0].field, 'problem_id');
    });

    it('a task no live worker can run waits with its reason, counted in /health', async () => {
      const aiopslab = await json(
        await post(base, '/api/v1/tasks', { problem_id: 'k8s_target_port-misconfig-detection-1' }),
      );
      const otherBackend = await json(
        await post(base, '/api/v1/tasks', { problem_id: 'sandbox-anything', backend_type: 'aiopslab' }),
      );
      await new Promise((r) => setTimeout(r, 500));
      const a = await json(await fetch(`${base}/api/v1/tasks/${aiopslab.id}`));
      assert.equal(a.status, 'pending');
      assert.match(a.waiting_reason, /No live worker offers problem "k8s_target_port-misconfig-detection-1"/);
      const b = await json(await fetch(`${base}/api/v1/tasks/${otherBackend.id}`));
      assert.match(b.waiting_reason, /No live worker drives backend "aiopslab"/);
      const health = await json(await fetch(`${base}/health`));
      assert.equal(health.unroutable_pending, 2);
      for (const id of [aiopslab.id, otherBackend.id]) await post(base, `/api/v1/tasks/${id}/cancel`, {});
    });

    it('`task-executor submit --follow` shows the episode step by step and its evaluation', async () => {
      const cli = startCli(
        ['submit', GOLDEN_PROBLEM, '--model', 'scripted:solver', '--follow', '--api-url', base],
        {},
      );
      await cli.waitForLine(/^== completed/, 60_000);
      assert.equal(await exited(cli.child), 0);
      const out = cli.output();
      assert.match(out, /── step 1 /);
      assert.match(out, /call: {2}exec_shell\("kubectl /);
      assert.match(out, /│ /, 'observation head shown');
      assert.match(out, /success: true/);
      assert.match(out, /conversation: GET \/api\/v1\/llm-conversations\//);
    });

    it('`task-executor problems` prints the catalogue', async () => {
      const cli = startCli(['problems', '--api-url', base], {});
      assert.equal(await exited(cli.child), 0);
      assert.match(cli.output(), /sandbox-k8s_target_port-misconfig-detection-1\s+sandbox\s+detection/);
      assert.match(cli.output(), /^sandbox: \d+ problems, 2 live workers/m);
    });
  });
}
