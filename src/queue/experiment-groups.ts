/**
 * An experiment per group (one problem under one agent config, K repetitions): counts by status,
 * success rate and mean default reward. What a problem × model table needs in one read, without
 * shipping every task's result (its trace) to the client.
 */
import { fromStoredJson } from '../db/text-codec.ts';
import type { Queryable } from '../db/types.ts';
import { defaultReward } from './rewards.ts';
import type { Row } from './rows.ts';
import type { Json, JsonObject, TaskStatus } from './types.ts';
import { TASK_STATUSES } from './types.ts';

export interface ExperimentGroup {
  group_id: string;
  problem_id: string;
  /** The agent config of the group's tasks; `model` is its model (null when it names none). */
  agent_config: JsonObject;
  model: string | null;
  size: number;
  by_status: Record<TaskStatus, number>;
  finished: number;
  /** completed / (completed + failed + timeout); null before any of them. */
  success_rate: number | null;
  /** Mean default reward over the tasks that have one; null when none has. */
  mean_reward: number | null;
  /** How many tasks the mean is over. */
  rewarded: number;
}

// Only the parts the default reward reads (results, task_type), never the trace (tasks_group_idx).
const GROUP_TASKS_SQL = `
SELECT group_id, problem_id, status, parameters->'agent_config' AS agent_config,
       result->'results' AS results, result->'task_type' AS task_type
FROM tasks WHERE experiment_id = $1 AND group_id IS NOT NULL
ORDER BY problem_id, group_id`;

const emptyCounts = (): Record<TaskStatus, number> =>
  Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;

/** The groups of an experiment, by problem id then group id; empty when it has none (or is unknown). */
export async function experimentGroups(db: Queryable, experimentId: string): Promise<ExperimentGroup[]> {
  const { rows } = await db.query<Row>(GROUP_TASKS_SQL, [experimentId]);
  const groups = new Map<string, ExperimentGroup & { rewardSum: number }>();
  for (const r of rows) {
    const id = r.group_id as string;
    let g = groups.get(id);
    if (!g) {
      const agentConfig = (fromStoredJson((r.agent_config as Json) ?? {}) ?? {}) as JsonObject;
      g = {
        group_id: id,
        problem_id: r.problem_id as string,
        agent_config: agentConfig,
        model: typeof agentConfig.model === 'string' ? agentConfig.model : null,
        size: 0,
        by_status: emptyCounts(),
        finished: 0,
        success_rate: null,
        mean_reward: null,
        rewarded: 0,
        rewardSum: 0,
      };
      groups.set(id, g);
    }
    const status = r.status as TaskStatus;
    g.size += 1;
    g.by_status[status] += 1;
    const result = {
      results: fromStoredJson((r.results as Json) ?? null),
      task_type: fromStoredJson((r.task_type as Json) ?? null),
    } as JsonObject;
    const { reward } = defaultReward({ status, result, error_details: null });
    if (reward !== null) {
      g.rewarded += 1;
      g.rewardSum += reward;
    }
  }
  return [...groups.values()].map(({ rewardSum, ...g }) => {
    const b = g.by_status;
    const scored = b.completed + b.failed + b.timeout;
    return {
      ...g,
      finished: scored + b.cancelled,
      success_rate: scored === 0 ? null : b.completed / scored,
      mean_reward: g.rewarded === 0 ? null : rewardSum / g.rewarded,
    };
  });
}
