/** Reading episode results in tests: did the submission score, per AIOpsLab's keys for its task type. */
import assert from 'node:assert/strict';

// biome-ignore lint/suspicious/noExplicitAny: response JSON read field by field.
export type J = Record<string, any>;

export const TERMINAL = ['completed', 'failed', 'timeout', 'cancelled'];

/** True when the evaluation says the agent got it right (detection: Correct; others: success). */
export function solved(result: J): boolean {
  const r = result.results as J;
  if (result.task_type === 'detection') return r['Detection Accuracy'] === 'Correct';
  return r.success === true;
}

export async function json(res: Response): Promise<J> {
  const body = await res.text();
  assert.ok(res.ok, `HTTP ${res.status}: ${body}`);
  return JSON.parse(body) as J;
}

export function post(base: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Polls until every task has ended; returns them in the order given. */
export async function waitForTasks(base: string, ids: string[], timeoutMs = 90_000): Promise<J[]> {
  const end = Date.now() + timeoutMs;
  const done = new Map<string, J>();
  while (done.size < ids.length) {
    for (const id of ids.filter((i) => !done.has(i))) {
      const t = await json(await fetch(`${base}/api/v1/tasks/${id}`));
      if (TERMINAL.includes(t.status)) done.set(id, t);
    }
    if (done.size === ids.length) break;
    if (Date.now() > end)
      throw new Error(`timed out: ${ids.length - done.size} of ${ids.length} tasks still running`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return ids.map((id) => done.get(id)!);
}
