/**
 * `task-executor cancel TASK_ID…`: one line per task saying what became of it. A pending task
 * ends cancelled at once; a running one is asked to stop and ends cancelled when its worker next
 * reports. One task's refusal (finished already, unknown id) does not stop the others.
 */
import type { Task } from '../queue/types.ts';
import { ApiError, type Client } from './client.ts';

export interface CancelOutcome {
  task_id: string;
  /** cancelled | cancel_requested from the API; not_found | not_cancellable | error otherwise. */
  outcome: string;
  status: string | null;
  message: string;
}

export async function cancelTasks(client: Pick<Client, 'post'>, ids: string[]): Promise<CancelOutcome[]> {
  const out: CancelOutcome[] = [];
  for (const id of ids) out.push(await cancelOne(client, id));
  return out;
}

/** Every task cancelled, or told to stop: the exit status is 0 only then. */
export const allCancelled = (outcomes: CancelOutcome[]) =>
  outcomes.every((o) => o.outcome === 'cancelled' || o.outcome === 'cancel_requested');

async function cancelOne(client: Pick<Client, 'post'>, id: string): Promise<CancelOutcome> {
  try {
    const t = await client.post<Task & { outcome: string }>(`/api/v1/tasks/${encodeURIComponent(id)}/cancel`);
    const message =
      t.outcome === 'cancelled'
        ? 'cancelled'
        : `cancel requested: ${t.worker_id ?? 'its worker'} is told to stop; it ends cancelled when the worker reports`;
    return { task_id: id, outcome: t.outcome, status: t.status, message };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err; // the server is unreachable: no point going on
    const status = (err.details as { status?: string } | null)?.status ?? null;
    if (err.code === 'TASK_NOT_CANCELLABLE')
      return { task_id: id, outcome: 'not_cancellable', status, message: `not cancelled: ${err.message}` };
    if (err.status === 404) return { task_id: id, outcome: 'not_found', status, message: 'no such task' };
    return { task_id: id, outcome: 'error', status, message: `${err.message} (${err.status} ${err.code})` };
  }
}

export function cancelLine(o: CancelOutcome): string {
  return `${o.task_id}  ${o.message}`;
}
