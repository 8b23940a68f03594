/**
 * One server log line per transition of an attempt (claimed, completed, failed with its reason,
 * requeued, cancelled, timed out), written where the transition is made, for in-process and
 * remote workers alike. The task's own logs hold the detail; these lines let an operator follow
 * the queue from the server log alone. At drain rates (thousands a second) the lines beyond a
 * per-second budget are summarised instead, so the log costs nothing there.
 */
import type { Json, Task } from '../queue/index.ts';

export interface AttemptLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * Per-task lines allowed per second per logger. Beyond it (a drain of thousands of tasks a
 * second, where a line per transition would cost ~10 % of a core in formatting alone) the
 * rest are counted and summarised in one line a second later.
 */
const LINES_PER_SECOND = 20;
const WINDOW_MS = 1000;

class LineBudget {
  private windowStart = 0;
  private used = 0;
  private readonly skipped = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(private readonly log: AttemptLogger) {}

  /** True when this transition may have its own line; otherwise it is counted under `kind`. */
  take(kind: string): boolean {
    const now = Date.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.flush();
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used < LINES_PER_SECOND) {
      this.used++;
      return true;
    }
    this.skipped.set(kind, (this.skipped.get(kind) ?? 0) + 1);
    this.flushTimer ??= setTimeout(() => this.flush(), WINDOW_MS).unref();
    return false;
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.skipped.size === 0) return;
    const counts = Object.fromEntries(this.skipped);
    const total = [...this.skipped.values()].reduce((a, b) => a + b, 0);
    this.skipped.clear();
    const parts = Object.entries(counts).map(([k, n]) => `${k} ${n}`);
    this.log.info(
      { transitions: counts },
      `${total} more task transitions without a line of their own (over ${LINES_PER_SECOND}/s): ${parts.join(', ')}`,
    );
  }
}

/** One budget per logger (the attempts service has one), without a field on its callers. */
const budgets = new WeakMap<AttemptLogger, LineBudget>();

function budget(log: AttemptLogger): LineBudget {
  let b = budgets.get(log);
  if (!b) {
    b = new LineBudget(log);
    budgets.set(log, b);
  }
  return b;
}

export function logClaimed(log: AttemptLogger, workerId: string, tasks: readonly Task[]): void {
  for (const t of tasks) {
    if (!budget(log).take('claimed')) continue;
    log.info(
      { task_id: t.id, worker_id: workerId, attempt: t.attempt, problem_id: t.problem_id },
      `task claimed by ${workerId} (attempt ${t.attempt} of ${t.max_attempts}): ${t.problem_id}`,
    );
  }
}

export function logCompleted(log: AttemptLogger, workerId: string, taskId: string, attempt: number): void {
  if (!budget(log).take('completed')) return;
  log.info({ task_id: taskId, worker_id: workerId, attempt }, `task completed: ${taskId}`);
}

/** After a fail or a release: the status the task went to says which transition it was. */
export function logSettled(log: AttemptLogger, workerId: string, task: Task, sent?: Json): void {
  const kind = task.status === 'pending' ? 'requeued' : task.status;
  if (!budget(log).take(kind)) return;
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
