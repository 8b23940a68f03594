/** Why a queue operation was refused. The API maps each code to an HTTP status in one place. */
export type QueueErrorCode =
  | 'TASK_NOT_FOUND'
  | 'EXPERIMENT_NOT_FOUND'
  | 'WORKER_NOT_FOUND'
  | 'TASK_NOT_HELD'
  | 'STALE_ATTEMPT'
  | 'TASK_ALREADY_TERMINAL'
  | 'TASK_NOT_RUNNING'
  | 'WORKER_OFFLINE'
  | 'IDEMPOTENCY_CONFLICT';

export class QueueError extends Error {
  override name = 'QueueError';
  constructor(
    readonly code: QueueErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Refusals that come from fencing (a worker acting on a task it does not hold). Counted in metrics. */
export const FENCING_CODES: ReadonlySet<QueueErrorCode> = new Set([
  'TASK_NOT_HELD',
  'STALE_ATTEMPT',
  'TASK_ALREADY_TERMINAL',
  'TASK_NOT_RUNNING',
]);
