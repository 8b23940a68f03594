/**
 * Server log lines for the task transitions the API makes itself (submitted, cancelled), so an
 * operator watching the log sees tasks arrive and leave; claims and reports are logged by the
 * attempts service, where they happen. A task that no live worker can run is logged with the
 * reason it waits, the same sentence the task, the CLI and /health show.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Queue } from '../queue/queue.ts';
import type { Task } from '../queue/types.ts';

/** A batch of thousands names only this many waiting problems; the rest are counted. */
const WAITING_CHECKS = 5;
/**
 * How long "a live worker can run this problem" is believed without asking again: a stream
 * of submits for runnable problems then costs no query each. A task submitted within this
 * window after its last worker went away gets no warning line (its waiting_reason, /health
 * and the CLI still say why: they ask on read).
 */
const ROUTABLE_TTL_MS = 5_000;

type WaitingQueue = Pick<Queue, 'waitingReason'>;

/** Tasks with the same key wait (or run) for the same reason: the same backend and problem. */
function routingKey(task: Pick<Task, 'backend_type' | 'problem_id'>): string {
  return `${task.backend_type ?? ''}\u0000${task.problem_id}`;
}

/**
 * Logs submitted tasks, then (off the response's path) one warning per problem no live
 * worker can take. Per app: it remembers which problems were found runnable.
 */
export function submitLogger(log: FastifyBaseLogger, queue: WaitingQueue) {
  const routableUntil = new Map<string, number>();
  const waitingReason = async (task: Task): Promise<string | null> => {
    const key = routingKey(task);
    const now = Date.now();
    if ((routableUntil.get(key) ?? 0) > now) return null;
    const reason = await queue.waitingReason(task);
    if (reason === null) {
      if (routableUntil.size > 10_000) routableUntil.clear();
      routableUntil.set(key, now + ROUTABLE_TTL_MS);
    }
    return reason;
  };
  return (reqLog: FastifyBaseLogger, results: readonly { task: Task; created: boolean }[]): void => {
    const created = results.filter((r) => r.created).map((r) => r.task);
    if (created.length === 0) return;
    if (created.length === 1) {
      const t = created[0]!;
      reqLog.info(
        { task_id: t.id, problem_id: t.problem_id, priority: t.priority },
        `task submitted: ${t.problem_id}`,
      );
    } else reqLog.info({ count: created.length }, `${created.length} tasks submitted`);
    logWaiting(reqLog, waitingReason, created).catch((err) =>
      log.warn({ err }, 'could not check whether the submitted tasks can run'),
    );
  };
}

/** One warning per distinct problem/backend that no live worker can take, with the reason. */
async function logWaiting(
  log: FastifyBaseLogger,
  waitingReason: (task: Task) => Promise<string | null>,
  tasks: readonly Task[],
): Promise<void> {
  const groups = new Map<string, Task[]>();
  for (const t of tasks) {
    const key = routingKey(t);
    const group = groups.get(key);
    if (group) group.push(t);
    else groups.set(key, [t]);
  }
  for (const group of [...groups.values()].slice(0, WAITING_CHECKS)) {
    const first = group[0]!;
    const reason = await waitingReason(first);
    if (!reason) continue;
    const which = group.length === 1 ? `task ${first.id}` : `${group.length} ${first.problem_id} tasks`;
    log.warn({ task_id: first.id, count: group.length, waiting_reason: reason }, `${which} waits: ${reason}`);
  }
}

export function logCancelled(
  log: FastifyBaseLogger,
  task: Task,
  outcome: 'cancelled' | 'cancel_requested',
): void {
  log.info(
    { task_id: task.id, outcome },
    outcome === 'cancelled' ? `task cancelled: ${task.id}` : `task cancel requested (running): ${task.id}`,
  );
}
