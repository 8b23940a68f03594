/** A backend that finishes at once: the benchmark measures the queue, not the work. */
import type { Backend, RunOutcome } from '../src/backends/index.ts';

export const noopBackend: Backend = {
  type: 'noop',
  run: async (): Promise<RunOutcome> => ({ status: 'completed', result: { ok: true } }),
};

export const noopTasks = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => ({
    problem_id: `${prefix}-${i % 100}`,
    max_steps: 1,
    timeout_minutes: 30,
  }));
