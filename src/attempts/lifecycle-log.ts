/**
 * One server log line per transition of an attempt (claimed, completed, failed with its reason,
 * requeued, cancelled, timed out), written where the transition is made, for in-process and
 * remote workers alike. The task's own logs hold the detail; these lines let an operator follow
 * the queue from the server log alone.
 */
import type { Json, Task } from '../queue/index.ts';

export interface AttemptLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export function logClaimed(log: AttemptLogger, workerId: string, tasks: readonly Task[]): void {
  for (const t of tasks)
    log.info(
      { task_id: t.id, worker_id: workerId, attempt: t.attempt, problem_id: t.problem_id },
      `task claimed by ${workerId} (attempt ${t.attempt} of ${t.max_attempts}): ${t.problem_id}`,
    );
}

export function logCompleted(log: AttemptLogger, workerId: string, taskId: string, attempt: number): void {
  log.info({ task_id: taskId, worker_id: workerId, attempt }, `task completed: ${taskId}`);
}

/** After a fail or a release: the status the task went to says which transition it was. */
export function logSettled(log: AttemptLogger, workerId: string, task: Task, sent?: Json): void {
  const fields = { task_id: task.id, worker_id: workerId, attempt: task.attempt, status: task.status };
  const reason = reasonOf(task.error_info) ?? reasonOf(sent ?? null);
  switch (task.status) {
    case 'pending':
      log.info({ ...fields, reason }, `task requeued: ${task.id}${reason ? ` (${reason})` : ''}`);
      return;
    case 'failed':
      log.info(
        { ...fields, reason, error: task.error_details },
        `task failed: ${task.id} [${reason ?? 'error'}] ${task.error_details ?? ''}`.trimEnd(),
      );
      return;
    default:
      log.info(fields, `task ${task.status}: ${task.id}`);
  }
}

function reasonOf(info: Json | null): string | null {
  return info && typeof info === 'object' && !Array.isArray(info) && typeof info.reason === 'string'
    ? info.reason
    : null;
}
