/**
 * Which feed events a client wants, and under what SSE name. The trajectory stream turns a
 * task's terminal status change into a `trajectory`; the events stream passes status changes
 * as `task.status`. Both can carry group.completed and reward.updated.
 */
import type { FeedEvent } from './feed-store.ts';

export const TERMINAL = new Set(['completed', 'failed', 'timeout', 'cancelled']);

export type TrajectoryEventName = 'trajectory' | 'group.completed' | 'reward.updated';
export type StatusEventName = 'task.status' | 'group.completed' | 'reward.updated';

export interface FeedFilter {
  experiment_id?: string;
  group_id?: string;
  task_id?: string;
  problem_id?: string;
  backend_type?: string;
  worker_id?: string;
  model?: string;
  /** Every pair must be among the task's labels. */
  labels?: Record<string, string>;
  /** Status of the change (events) or of the finished task (trajectories). */
  statuses?: ReadonlySet<string>;
  policy_version_min?: number;
  policy_version_max?: number;
}

/** The filters on the task's own fields (a group event is judged by one of its tasks). */
function taskMatches(e: FeedEvent, f: FeedFilter): boolean {
  if (f.experiment_id && e.experiment_id !== f.experiment_id) return false;
  if (f.group_id && e.group_id !== f.group_id) return false;
  if (f.task_id && e.task_id !== f.task_id) return false;
  if (f.problem_id && e.problem_id !== f.problem_id) return false;
  if (f.backend_type && e.backend_type !== f.backend_type) return false;
  if (f.model && e.model !== f.model) return false;
  if (f.policy_version_min !== undefined && (e.policy_version ?? -1) < f.policy_version_min) return false;
  if (
    f.policy_version_max !== undefined &&
    (e.policy_version === null || e.policy_version > f.policy_version_max)
  )
    return false;
  if (f.labels) for (const [k, v] of Object.entries(f.labels)) if (e.labels[k] !== v) return false;
  return true;
}

export function trajectorySelector(f: FeedFilter, names: ReadonlySet<TrajectoryEventName>) {
  return (e: FeedEvent): TrajectoryEventName | null => {
    if (!taskMatches(e, f)) return null;
    if (e.kind === 'task.status') {
      if (!TERMINAL.has(e.status ?? '') || !names.has('trajectory')) return null;
      if (f.statuses && !f.statuses.has(e.status!)) return null;
      if (f.worker_id && e.worker_id !== f.worker_id) return null;
      return 'trajectory';
    }
    // A group has no single task or worker; those filters leave its completion out.
    if (e.kind === 'group.completed') return names.has(e.kind) && !f.task_id && !f.worker_id ? e.kind : null;
    return names.has(e.kind) ? e.kind : null;
  };
}

export function statusSelector(f: FeedFilter, names: ReadonlySet<StatusEventName>) {
  return (e: FeedEvent): StatusEventName | null => {
    if (!taskMatches(e, f)) return null;
    if (e.kind === 'task.status') {
      if (!names.has('task.status')) return null;
      if (f.statuses && !f.statuses.has(e.status!)) return null;
      if (f.worker_id && e.worker_id !== f.worker_id) return null;
      return 'task.status';
    }
    if (e.kind === 'group.completed') return names.has(e.kind) && !f.task_id && !f.worker_id ? e.kind : null;
    return names.has(e.kind) ? e.kind : null;
  };
}
