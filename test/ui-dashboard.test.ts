/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a real
 * server: `task-executor serve` with in-process sandbox workers running episodes of the
 * scripted models through the gateway. Every page loads without console errors; the overview
 * follows a finishing task live; the episode viewer shows the steps the API recorded; cancel
 * works from the task page; filters change the list. Screenshots of each page go to
 * test-artifacts/ui/ (light and dark, laptop and phone width).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, registerWorker, submitTask } from './helpers/app.ts';
import { launchBrowser, PHONE, screenshot, type TestBrowser, type WatchedPage } from './helpers/browser.ts';
import { type J, json, post, waitForTasks } from './helpers/episodes.ts';
import { type ServeProcess, startServe } from './helpers/process.ts';

const SOLVER = 'scripted:solver';
const DETECTION = [
  'sandbox-k8s_target_port-misconfig-detection-1',
  'sandbox-revoke_auth_mongodb-detection-1',
];

describe('dashboard in a browser, against a server running sandbox episodes', () => {
  let serve: ServeProcess;
  let base: string;
  let browser: TestBrowser;
  let finished: J;
  let experiment: J;

  before(async () => {
    // Start the browser and the server side by side; either failing fails the file.
    [serve, browser] = await Promise.all([
      startServe('pglite', { INTERNAL_WORKER_BACKENDS: 'sandbox:2', INTERNAL_WORKER_MAX_PARALLEL: '2' }),
      launchBrowser(),
    ]);
    base = serve.base;
    const created = await json(
      await post(base, '/api/v1/tasks', {
        problem_id: 'sandbox-k8s_target_port-misconfig-mitigation-1',
        agent_config: { model: SOLVER },
      }),
    );
    experiment = await json(
      await post(base, '/api/v1/experiments', {
        name: 'ui-grid',
        problems: DETECTION,
        agent_configs: [{ model: SOLVER }, { model: 'scripted:wrong' }],
        repetitions: 2,
      }),
    );
    finished = (await waitForTasks(base, [created.id]))[0]!;
    const grid = await json(await fetch(`${base}/api/v1/tasks?experiment_id=${experiment.id}&limit=100`));
    await waitForTasks(
      base,
      grid.tasks.map((t: J) => t.id),
    );
  });

  after(async () => {
    await browser?.close();
    await serve?.close();
  });

  /** Opens a page of the dashboard and waits for what shows it has its data. */
  async function visit(hash: string, ready: string, opts?: Parameters<TestBrowser['open']>[0]) {
    const w = await browser.open(opts);
    await w.page.goto(`${base}/ui/${hash}`);
    await w.page.locator(ready).first().waitFor({ timeout: 30_000 });
    return w;
  }

  function assertClean(w: WatchedPage, what: string) {
    assert.deepEqual(w.errors, [], `${what}: errors in the browser`);
  }

  it('sends a browser from / to the dashboard', async () => {
    const w = await browser.open();
    await w.page.goto(`${base}/`);
    assert.equal(new URL(w.page.url()).pathname, '/ui/');
    await w.page.locator('[data-testid=counts]').waitFor();
    assertClean(w, '/');
    await w.close();
  });

  it('loads every page without console errors (screenshots in test-artifacts/ui)', async () => {
    const pages: [string, string, string][] = [
      ['overview', '#/', '[data-testid=counts]'],
      ['tasks', '#/tasks', '[data-testid=task-table]'],
      ['task', `#/tasks/${finished.id}`, '[data-testid=timeline]'],
      ['episode', `#/tasks/${finished.id}/episode`, '[data-testid=turn]'],
      ['experiments', '#/experiments', 'table'],
      ['experiment', `#/experiments/${experiment.id}`, '[data-testid=grid]'],
      ['workers', '#/workers', '[data-testid=workers]'],
      ['problems', '#/problems', '[data-testid=problems]'],
    ];
    for (const [name, hash, ready] of pages) {
      const w = await visit(hash, ready);
      // The overview's second chart draws once it has two readings of the counts.
      if (name === 'overview') await w.page.locator('.chart').nth(1).waitFor({ timeout: 30_000 });
      await screenshot(w.page, name);
      assertClean(w, name);
      // Every form control has a label, every button a name (screen readers, voice control).
      const unnamed = await w.page.evaluate(() => [
        ...[...document.querySelectorAll('input, select, textarea')]
          .filter((e) => !(e as HTMLInputElement).labels?.length && !e.getAttribute('aria-label'))
          .map((e) => e.outerHTML),
        ...[...document.querySelectorAll('button')]
          .filter((b) => !b.textContent?.trim())
          .map((b) => b.outerHTML),
      ]);
      assert.deepEqual(unnamed, [], `${name}: controls without a label`);
      await w.close();
    }
    for (const [name, hash, ready] of [pages[0]!, pages[3]!, pages[5]!]) {
      const w = await visit(hash, ready, { dark: true });
      await screenshot(w.page, `${name}-dark`);
      assertClean(w, `${name} (dark)`);
      await w.close();
    }
    for (const [name, hash, ready] of [pages[0]!, pages[2]!, pages[3]!]) {
      const w = await visit(hash, ready, { viewport: PHONE });
      await screenshot(w.page, `${name}-phone`);
      // Nothing wider than the phone: the page reflows instead of scrolling sideways.
      const overflow = await w.page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
      assert.ok(overflow <= 0, `${name} is ${overflow}px wider than a phone`);
      assertClean(w, `${name} (phone)`);
      await w.close();
    }
  });

  it('updates the overview live when a task finishes', async () => {
    const w = await visit('#/', '[data-testid=counts]');
    // The live dot says the event stream is open before anything is submitted.
    await w.page.getByRole('status').filter({ hasText: 'live' }).waitFor();
    const completed = w.page.locator('a[href="#/tasks?status=completed"] .stat-value');
    const before = Number((await completed.textContent())!.replace(/,/g, ''));
    const t = await json(
      await post(base, '/api/v1/tasks', { problem_id: DETECTION[0], agent_config: { model: SOLVER } }),
    );
    await waitForTasks(base, [t.id]);
    await w.page.waitForFunction(
      ([sel, n]) =>
        Number(document.querySelector(sel as string)?.textContent?.replace(/,/g, '')) > (n as number),
      ['a[href="#/tasks?status=completed"] .stat-value', before],
      { timeout: 30_000 },
    );
    await w.page
      .locator('[data-testid=activity] li', { hasText: t.id.slice(0, 8) })
      .filter({ hasText: 'completed' })
      .first()
      .waitFor();
    assertClean(w, 'overview live');
    await w.close();
  });

  it('shows each step of a finished episode as the API recorded it', async () => {
    const conversationId = finished.result.conversation_id;
    const calls = (
      await json(await fetch(`${base}/api/v1/llm-conversations/${conversationId}/calls?limit=1000`))
    ).calls as J[];
    const logs = (
      await json(await fetch(`${base}/api/v1/tasks/${finished.id}/logs?source=episode&limit=1000`))
    ).logs as J[];
    const actions = logs.filter((l) => l.context?.call).map((l) => l.context.call.api as string);
    const w = await visit(`#/tasks/${finished.id}/episode`, '[data-testid=turn]');
    const turns = w.page.locator('[data-testid=turn]');
    assert.equal(await turns.count(), calls.length);
    assert.equal(calls.length, finished.result.steps);
    for (const [i, call] of calls.entries()) {
      const turn = turns.nth(i);
      const reply = call.response.choices[0].message.content as string;
      assert.equal(
        (await turn.locator('pre.reply').textContent())?.trim(),
        reply.trim(),
        `step ${i + 1} reply`,
      );
      const action = await turn.locator('[data-testid=action]').textContent();
      assert.ok(action?.startsWith(`${actions[i]}(`), `step ${i + 1}: ${action} is not ${actions[i]}`);
      assert.match(
        (await turn.locator('.metrics').textContent())!,
        new RegExp(`${call.prompt_tokens.toLocaleString('en')} in`),
      );
    }
    assertClean(w, 'episode');
    await w.close();
  });

  it('cancels a waiting task from its page', async () => {
    // No worker serves this backend: the task waits until cancelled.
    const t = await json(
      await post(base, '/api/v1/tasks', { problem_id: 'waits-forever', backend_type: 'nobody-runs-this' }),
    );
    const w = await visit(`#/tasks/${t.id}`, '[data-testid=timeline]');
    await w.page.getByRole('button', { name: 'Cancel task' }).click();
    await w.page.getByRole('button', { name: 'Yes, cancel it' }).click();
    await w.page.locator('.page-head .badge.s-cancelled').waitFor();
    const after = await json(await fetch(`${base}/api/v1/tasks/${t.id}`));
    assert.equal(after.status, 'cancelled');
    assert.equal(
      await w.page.getByRole('button', { name: 'Cancel task' }).count(),
      0,
      'no cancel once finished',
    );
    assertClean(w, 'cancel');
    await w.close();
  });

  it('changes the list when a filter is applied', async () => {
    const w = await visit('#/tasks', '[data-testid=task-table]');
    const rows = w.page.locator('[data-testid=task-table] tbody tr');
    const all = await json(await fetch(`${base}/api/v1/tasks?page_size=25`));
    assert.equal(await rows.count(), Math.min(25, all.total));
    await w.page.getByLabel('Status').selectOption('cancelled');
    await w.page.getByRole('button', { name: 'Apply' }).click();
    const cancelled = await json(await fetch(`${base}/api/v1/tasks?status=cancelled`));
    assert.ok(cancelled.total >= 1 && cancelled.total < all.total);
    await w.page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid=task-table] tbody tr').length === n,
      cancelled.total,
    );
    assert.match(w.page.url(), /status=cancelled/);
    for (const badge of await rows.locator('.badge').allTextContents()) assert.equal(badge, 'cancelled');
    await w.page.getByLabel('Experiment').fill(experiment.id);
    await w.page.getByLabel('Status').selectOption('');
    await w.page.getByRole('button', { name: 'Apply' }).click();
    await w.page.waitForFunction(
      () => document.querySelectorAll('[data-testid=task-table] tbody tr').length === 8,
    );
    assertClean(w, 'filters');
    await w.close();
  });

  it('asks for a token when the API says 401, keeps it for the session, then shows the data', async () => {
    const token = 'client-token-for-the-ui-test-0123';
    const secured = await createTestApp('pglite', { listen: true, env: { API_TOKENS: `client:${token}` } });
    try {
      const t = await json(
        await fetch(`${secured.url}/api/v1/tasks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ problem_id: 'p-1' }),
        }),
      );
      const w = await browser.open();
      await w.page.goto(`${secured.url}/ui/#/tasks`);
      const prompt = w.page.getByRole('dialog', { name: 'This server needs an API token' });
      await prompt.waitFor();
      await w.page.getByLabel('API token', { exact: true }).fill(token);
      await w.page.getByRole('button', { name: 'Use token' }).click();
      await w.page.locator('[data-testid=task-table]').waitFor();
      assert.equal(await prompt.count(), 0);
      assert.equal(await w.page.locator(`a[href="#/tasks/${t.id}"]`).count(), 1);
      assert.equal(await w.page.evaluate(() => sessionStorage.getItem('task-executor.token')), token);
      // A reload keeps the token (same tab session); the live overview streams with it.
      await w.page.goto(`${secured.url}/ui/#/`);
      await w.page.getByRole('status').filter({ hasText: 'live' }).waitFor();
      // The page's own 401s before the token was given are expected console noise; nothing else.
      const unexpected = w.errors.filter((e) => !/status of 401/.test(e));
      assert.deepEqual(unexpected, []);
      await screenshot(w.page, 'overview-with-token');
      await w.close();
    } finally {
      await secured.close();
    }
  });

  it('shades reply tokens by probability where the call recorded logprobs', async () => {
    const t = await createTestApp('pglite', { listen: true });
    try {
      await registerWorker(t, 'worker-001-kind');
      const task = await submitTask(t, { problem_id: 'p-logprobs' });
      const claim = await json(
        await fetch(`${t.url}/api/v1/workers/worker-001-kind/claim`, { method: 'POST' }),
      );
      const chat = await json(
        await fetch(`${t.url}/llm/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${claim.llm_api_key}` },
          body: JSON.stringify({
            model: 'scripted:echo',
            messages: [{ role: 'user', content: 'check the pods of the frontend' }],
            logprobs: true,
            top_logprobs: 2,
          }),
        }),
      );
      const tokens = chat.choices[0].logprobs.content as J[];
      assert.ok(tokens.length > 1);
      const w = await browser.open();
      await w.page.goto(`${t.url}/ui/#/tasks/${task.id}/episode`);
      const heat = w.page.locator('[data-testid=heatmap]');
      await heat.waitFor({ timeout: 30_000 });
      const shown = await heat
        .locator('.tok')
        .evaluateAll((els) =>
          els.map((e) => ({ text: e.textContent, p: getComputedStyle(e).getPropertyValue('--p') })),
        );
      assert.deepEqual(
        shown.map((x) => x.text),
        tokens.map((x) => x.token),
      );
      assert.deepEqual(
        shown.map((x) => Number(x.p)),
        tokens.map((x) => Number(Math.exp(x.logprob).toFixed(3))),
      );
      assertClean(w, 'heat map');
      await w.close();
    } finally {
      await t.close();
    }
  });
});
