/**
 * The server's per-task lifecycle lines: each transition has its own line at a newcomer's rates,
 * and beyond the per-second budget (a drain of thousands a second) the rest are counted in one
 * summary line instead of each being formatted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logClaimed, logCompleted, logSettled } from '../src/attempts/lifecycle-log.ts';
import type { Task } from '../src/queue/index.ts';
import { waitFor } from './helpers/process.ts';

type Line = { obj: Record<string, unknown>; msg: string };

function captureLogger() {
  const lines: Line[] = [];
  const push = (obj: object, msg = '') => lines.push({ obj: obj as Record<string, unknown>, msg });
  return { lines, logger: { info: push, warn: push } };
}

const task = (i: number, status: Task['status'] = 'running') =>
  ({
    id: `t-${i}`,
    attempt: 1,
    max_attempts: 2,
    problem_id: 'p-1',
    status,
    error_info: status === 'failed' ? { reason: 'boom' } : null,
    error_details: status === 'failed' ? 'it broke' : null,
  }) as unknown as Task;

describe('lifecycle log lines', () => {
  it('gives each transition its own line at low rates, with the reason of a failure', () => {
    const { lines, logger } = captureLogger();
    logClaimed(logger, 'worker-001-kind', [task(1)]);
    logCompleted(logger, 'worker-001-kind', 't-1', 1);
    logSettled(logger, 'worker-001-kind', task(2, 'failed'));
    logSettled(logger, 'worker-001-kind', task(3, 'pending'), { reason: 'lease_lost' });
    assert.deepEqual(
      lines.map((l) => l.msg),
      [
        'task claimed by worker-001-kind (attempt 1 of 2): p-1',
        'task completed: t-1',
        'task failed: t-2 [boom] it broke',
        'task requeued: t-3 (lease_lost)',
      ],
    );
  });

  it('summarises the transitions beyond its budget in one line, counted by kind', async () => {
    const { lines, logger } = captureLogger();
    const burst = Array.from({ length: 200 }, (_, i) => task(i));
    logClaimed(logger, 'worker-001-kind', burst);
    for (const t of burst.slice(0, 150)) logCompleted(logger, 'worker-001-kind', t.id, 1);
    for (const t of burst.slice(150, 160)) logSettled(logger, 'worker-001-kind', { ...t, status: 'failed' });
    const own = () => lines.filter((l) => l.obj.task_id !== undefined);
    assert.ok(own().length < 60, `${own().length} per-task lines for 360 transitions`);
    // Summaries come a second after the budget ran out (more than one if this machine is slow
    // enough for a window to roll over mid-burst): together with the own lines they cover all.
    const summaries = () => lines.filter((l) => l.obj.transitions !== undefined);
    const counted = (kind?: string) =>
      summaries()
        .flatMap((l) => Object.entries(l.obj.transitions as Record<string, number>))
        .filter(([k]) => kind === undefined || k === kind)
        .reduce((a, [, n]) => a + n, 0);
    await waitFor(
      async () => own().length + counted() === 360,
      'every transition to have a line or a count',
      10_000,
    );
    const failedLines = own().filter((l) => l.obj.status === 'failed').length;
    assert.equal(failedLines + counted('failed'), 10);
    assert.match(summaries()[0]!.msg, /^\d+ more task transitions without a line of their own/);
  });
});
