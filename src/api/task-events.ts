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

export async function logSubmitted(
  log: FastifyBaseLogger,
  queue: Pick<Queue, 'waitingReason'>,
  results: readonly { task: Task; created: boolean }[],
): Promise<void> {
  const created = results.filter((r) => r.created).map((r) => r.task);
  if (created.length === 0) return;
  if (created.length === 1) {
    const t = created[0]!;
    log.info(
      { task_id: t.id, problem_id: t.problem_id, priority: t.priority },
      `task submitted: ${t.problem_id}`,
    );
  } else log.info({ count: created.length }, `${created.length} tasks submitted`);
  await logWaiting(log, queue, created);
}

/** One warning per distinct problem/backend that no live worker can take, with the reason. */
async function logWaiting(
  log: FastifyBaseLogger,
  queue: Pick<Queue, 'waitingReason'>,
  tasks: readonly Task[],
): Promise<void> {
  const groups = new Map<string, Task[]>();
  for (const t of tasks) {
    const key = `${t.backend_type ?? ''}\u0000${t.problem_id}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  for (const group of [...groups.values()].slice(0, WAITING_CHECKS)) {
    const first = group[0]!;
    const reason = await queue.waitingReason(first);
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
