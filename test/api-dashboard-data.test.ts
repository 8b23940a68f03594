/**
 * The two reads the dashboard added to the API: an experiment per group (problem × agent
 * config: counts, success rate, mean default reward) and task activity minute by minute; and
 * the dashboard's static files (content types, revalidation, public with tokens on).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Body, createTestApp, json, registerWorker, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const WORKER = 'worker-001-kind';

/** Claims the next task and completes it with this detection verdict (or fails it). */
async function finishNext(t: TestApp, verdict: 'Correct' | 'Incorrect' | 'fail') {
  const claim = await t.inject({ method: 'POST', url: `/api/v1/workers/${WORKER}/claim` });
  const task = json<Body>(claim);
  assert.ok(task?.id, `nothing to claim: ${claim.body}`);
  const base = `/api/v1/workers/${WORKER}/tasks/${task.id}`;
  const res =
    verdict === 'fail'
      ? await t.inject({
          method: 'POST',
          url: `${base}/fail`,
          payload: { attempt: task.attempt, error: 'boom' },
        })
      : await t.inject({
          method: 'POST',
          url: `${base}/complete`,
          payload: {
            attempt: task.attempt,
            result: { task_type: 'detection', results: { 'Detection Accuracy': verdict } },
          },
        });
  assert.equal(res.statusCode, 200, res.body);
  return task;
}

for (const mode of dbModes()) {
  describe(`dashboard data (${mode})`, () => {
    let t: TestApp;
    let experimentId: string;

    before(async () => {
      t = await createTestApp(mode);
      await registerWorker(t, WORKER);
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        payload: {
          name: 'grid',
          problems: ['p-a', 'p-b'],
          agent_configs: [{ model: 'm-1' }, { model: 'm-2', temperature: 1 }],
          repetitions: 2,
        },
      });
      assert.equal(res.statusCode, 201, res.body);
      experimentId = json<Body>(res).id;
    });
    after(() => t.close());

    it('answers one group per problem × config, with counts, success rate and mean reward', async () => {
      // Claim order is by priority then submit order; judge each claimed task by its group.
      const verdicts: ('Correct' | 'Incorrect' | 'fail')[] = [
        'Correct',
        'Incorrect',
        'fail',
        'Correct',
        'Correct',
      ];
      for (const v of verdicts) await finishNext(t, v);
      const res = await t.inject({ method: 'GET', url: `/api/v1/experiments/${experimentId}/groups` });
      assert.equal(res.statusCode, 200, res.body);
      const body = json<Body>(res);
      assert.equal(body.experiment_id, experimentId);
      assert.equal(body.groups.length, 4);
      const tasks = json<Body>(
        await t.inject({ method: 'GET', url: `/api/v1/tasks?experiment_id=${experimentId}&limit=100` }),
      ).tasks as Body[];
      for (const g of body.groups as Body[]) {
        const mine = tasks.filter((x) => x.group_id === g.group_id);
        assert.equal(g.size, mine.length);
        assert.equal(g.problem_id, mine[0]!.problem_id);
        assert.equal(g.model, mine[0]!.parameters.agent_config.model);
        assert.deepEqual(g.agent_config, mine[0]!.parameters.agent_config);
        const count = (s: string) => mine.filter((x) => x.status === s).length;
        assert.equal(g.by_status.completed, count('completed'));
        assert.equal(g.by_status.failed, count('failed'));
        assert.equal(g.by_status.pending, count('pending'));
        const scored = count('completed') + count('failed');
        assert.equal(g.success_rate, scored ? count('completed') / scored : null);
        // The mean of the rewards the tasks themselves show.
        const rewards = mine.map((x) => x.reward).filter((r) => r !== null) as number[];
        assert.equal(g.rewarded, rewards.length);
        assert.equal(
          g.mean_reward,
          rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : null,
        );
      }
      assert.deepEqual(
        (body.groups as Body[]).map((g) => g.problem_id),
        ['p-a', 'p-a', 'p-b', 'p-b'],
        'ordered by problem',
      );
    });

    it('404s an unknown experiment', async () => {
      const res = await t.inject({
        method: 'GET',
        url: '/api/v1/experiments/00000000-0000-4000-8000-000000000000/groups',
      });
      assert.equal(res.statusCode, 404);
    });

    it('counts claims and finishes minute by minute, every minute of the window present', async () => {
      const res = await t.inject({ method: 'GET', url: '/api/v1/tasks/activity' });
      assert.equal(res.statusCode, 200, res.body);
      const body = json<Body>(res);
      assert.equal(body.window, '1h');
      assert.equal(body.minutes.length, 60);
      const stamps = (body.minutes as Body[]).map((m) => Date.parse(m.minute));
      for (let i = 1; i < stamps.length; i++) assert.equal(stamps[i]! - stamps[i - 1]!, 60_000);
      const sum = (k: string) => (body.minutes as Body[]).reduce((n, m) => n + m[k], 0);
      // The previous test claimed five tasks, completed four and failed one.
      assert.equal(sum('claims'), 5);
      assert.equal(sum('completed'), 4);
      assert.equal(sum('failed'), 1);
      const day = json<Body>(await t.inject({ method: 'GET', url: '/api/v1/tasks/activity?window=24h' }));
      assert.equal(day.minutes.length, 1440);
      const bad = await t.inject({ method: 'GET', url: '/api/v1/tasks/activity?window=7d' });
      assert.equal(bad.statusCode, 422);
    });

    it('serves the dashboard: its page, modules and vendor files with types and revalidation', async () => {
      const page = await t.inject({ method: 'GET', url: '/ui/' });
      assert.equal(page.statusCode, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.equal(page.headers['cache-control'], 'no-cache');
      assert.match(String(page.headers['content-security-policy']), /script-src 'self' 'sha256-/);
      assert.match(page.body, /<script type="importmap">/);
      const app = await t.inject({ method: 'GET', url: '/ui/app.js' });
      assert.equal(app.statusCode, 200);
      assert.match(String(app.headers['content-type']), /javascript/);
      for (const f of ['preact.mjs', 'preact-hooks.mjs', 'htm.mjs', 'htm-preact.mjs', 'uplot.mjs']) {
        const v = await t.inject({ method: 'GET', url: `/ui/vendor/${f}` });
        assert.equal(v.statusCode, 200, f);
        assert.match(String(v.headers['content-type']), /^text\/javascript/, f);
        const again = await t.inject({
          method: 'GET',
          url: `/ui/vendor/${f}`,
          headers: { 'if-none-match': String(v.headers.etag) },
        });
        assert.equal(again.statusCode, 304, f);
      }
      const css = await t.inject({ method: 'GET', url: '/ui/vendor/uplot.css' });
      assert.match(String(css.headers['content-type']), /^text\/css/);
      assert.equal((await t.inject({ method: 'GET', url: '/ui/vendor/package.json' })).statusCode, 404);
      assert.equal((await t.inject({ method: 'GET', url: '/ui/../package.json' })).statusCode, 404);
      const bare = await t.inject({ method: 'GET', url: '/ui' });
      assert.equal(bare.statusCode, 301);
      assert.equal(bare.headers.location, '/ui/');
    });
  });

  describe(`dashboard with API tokens (${mode})`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(mode, { env: { API_TOKENS: 'client:client-token-0123456789' } });
    });
    after(() => t.close());

    it('serves the page to anyone; the data it reads still needs a token', async () => {
      assert.equal((await t.inject({ method: 'GET', url: '/ui/' })).statusCode, 200);
      assert.equal((await t.inject({ method: 'GET', url: '/ui/vendor/preact.mjs' })).statusCode, 200);
      assert.equal((await t.inject({ method: 'GET', url: '/api/v1/tasks/activity' })).statusCode, 401);
      const ok = await t.inject({
        method: 'GET',
        url: '/api/v1/tasks/activity',
        headers: { authorization: 'Bearer client-token-0123456789' },
      });
      assert.equal(ok.statusCode, 200);
    });
  });
}
