/**
 * `submit --wait`: a progress line until every task of the batch has ended, then which tasks did
 * not complete. Each reading lists the batch's tasks (by the cli_batch label, in creation order,
 * which a status change cannot reorder) and counts them, so every task is counted exactly once
 * and the line always adds up (`3/3 done completed:2 failed:1`); counting each status with its
 * own query let a task that moved between two queries be counted twice or not at all.
 */
import type { Task } from '../queue/types.ts';
import type { Client } from './client.ts';
import { errorSummary } from './format.ts';

const TERMINAL = new Set(['completed', 'failed', 'timeout', 'cancelled']);
const STATUS_ORDER = ['pending', 'running', 'completed', 'failed', 'timeout', 'cancelled'];
/** The list endpoint's largest page. */
const PAGE = 1000;

export interface BatchState {
  tasks: Task[];
  counts: Record<string, number>;
  done: number;
}

/**
 * The tasks of one `submit --wait`: those created now carry the batch label; a task the API
 * returned because its idempotency key already existed does not, and is read by its id.
 */
export interface Batch {
  label: string;
  unlabelled: string[];
}

export function batchOf(label: string, created: readonly Task[]): Batch {
  return { label, unlabelled: created.filter((t) => t.labels?.cli_batch !== label).map((t) => t.id) };
}

/** Every task of the batch: the labelled ones page by page in creation order, then the others. */
export async function readBatch(client: Pick<Client, 'get'>, batch: Batch): Promise<BatchState> {
  const tasks = await readLabelled(client, batch.label);
  for (const id of batch.unlabelled) tasks.push(await client.get<Task>(`/api/v1/tasks/${id}`));
  const counts: Record<string, number> = {};
  for (const t of tasks) counts[t.status] = (counts[t.status] ?? 0) + 1;
  return { tasks, counts, done: tasks.filter((t) => TERMINAL.has(t.status)).length };
}

async function readLabelled(client: Pick<Client, 'get'>, batch: string): Promise<Task[]> {
  const tasks: Task[] = [];
  for (;;) {
    const q = new URLSearchParams({
      label: `cli_batch=${batch}`,
      sort: 'created_at',
      limit: String(PAGE),
      offset: String(tasks.length),
    });
    const page = await client.get<{ tasks: Task[]; total: number }>(`/api/v1/tasks?${q}`);
    tasks.push(...page.tasks);
    if (page.tasks.length < PAGE || tasks.length >= page.total) return tasks;
  }
}

export function progressText(state: BatchState, total: number): string {
  const parts = STATUS_ORDER.filter((s) => state.counts[s]).map((s) => `${s}:${state.counts[s]}`);
  return `${state.done}/${total} done  ${parts.join(' ')}`;
}

export interface WaitOptions {
  intervalMs: number;
  /** The progress line; on a terminal it is rewritten in place. */
  progress: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Resolves with the final reading once every task of the batch has ended. */
export async function waitForBatch(
  client: Pick<Client, 'get'>,
  batch: Batch,
  total: number,
  o: WaitOptions,
): Promise<BatchState> {
  const tty = o.progress.isTTY === true;
  for (;;) {
    const state = await readBatch(client, batch);
    const line = progressText(state, total);
    o.progress.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    if (state.done >= total) {
      if (tty) o.progress.write('\n');
      return state;
    }
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
}

export const notCompleted = (state: BatchState) => state.tasks.filter((t) => t.status !== 'completed');

/** The tasks that did not complete, one line each: id, status, problem, error. */
export function failureLines(state: BatchState): string[] {
  const bad = notCompleted(state);
  if (bad.length === 0) return [];
  return [
    `${bad.length} of ${state.tasks.length} tasks did not complete:`,
    ...bad.map((t) =>
      [t.id, t.status.padEnd(9), t.problem_id, errorSummary(t) ?? '(no error recorded)'].join('  '),
    ),
  ];
}

/** The --json summary: counts, and each task that did not complete with its error. */
export function waitSummary(state: BatchState) {
  return {
    total: state.tasks.length,
    counts: state.counts,
    not_completed: notCompleted(state).map((t) => ({
      id: t.id,
      problem_id: t.problem_id,
      status: t.status,
      error: errorSummary(t),
    })),
  };
}
