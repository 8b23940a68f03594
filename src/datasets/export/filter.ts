/**
 * Which finished tasks an export takes, as SQL over the task and its finish event (the feed's
 * terminal task.status row, whose cursor orders the export). Every value is a parameter; the
 * clauses are fixed text. The reward bounds are not SQL: the default reward is derived from the
 * stored evaluation when read, so they are applied to the built records (see reader.ts).
 */
import { toStoredJson } from '../../db/text-codec.ts';

export const TERMINAL_STATUSES = ['completed', 'failed', 'timeout', 'cancelled'] as const;

export interface ExportFilter {
  experiment_id?: string;
  group_id?: string;
  problem_id?: string;
  backend_type?: string;
  worker_id?: string;
  /** The agent config's model. */
  model?: string;
  /** Terminal statuses to keep (default all four). */
  statuses?: readonly string[];
  /** Every pair must be among the task's labels. */
  labels?: Record<string, string>;
  policy_version_min?: number;
  policy_version_max?: number;
  /** ISO times, on the task's completed_at: after is exclusive, before inclusive. */
  completed_after?: string;
  completed_before?: string;
  /** Bounds on the reward (inclusive): the default one, or the newest `reward_name` score. */
  min_reward?: number;
  max_reward?: number;
  reward_name?: string;
  /** One record per attempt (all) or only each task's last attempt (final). */
  attempts?: 'all' | 'final';
}

/** SQL conditions on `t` (tasks) and `e` (feed_events) for the filter, with their parameters. */
export function filterClauses(f: ExportFilter, params: unknown[]): string {
  const where: string[] = [];
  const add = (value: unknown, clause: (p: string) => string) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (f.experiment_id) add(f.experiment_id, (p) => `e.experiment_id = ${p}::uuid`);
  if (f.group_id) add(f.group_id, (p) => `e.group_id = ${p}::uuid`);
  if (f.problem_id) add(f.problem_id, (p) => `t.problem_id = ${p}`);
  if (f.backend_type) add(f.backend_type, (p) => `t.backend_type = ${p}`);
  if (f.worker_id) add(f.worker_id, (p) => `t.worker_id = ${p}`);
  if (f.model) add(f.model, (p) => `t.parameters -> 'agent_config' ->> 'model' = ${p}`);
  if (f.statuses?.length) add([...f.statuses], (p) => `e.status = ANY(${p}::text[])`);
  if (f.labels && Object.keys(f.labels).length > 0)
    add(toStoredJson(f.labels), (p) => `t.parameters -> 'labels' @> ${p}::jsonb`);
  if (f.policy_version_min !== undefined)
    add(f.policy_version_min, (p) => `t.policy_version >= ${p}::bigint`);
  if (f.policy_version_max !== undefined)
    add(f.policy_version_max, (p) => `t.policy_version <= ${p}::bigint`);
  if (f.completed_after) add(f.completed_after, (p) => `t.completed_at > ${p}::timestamptz`);
  if (f.completed_before) add(f.completed_before, (p) => `t.completed_at <= ${p}::timestamptz`);
  return where.map((w) => `AND ${w}`).join(' ');
}
