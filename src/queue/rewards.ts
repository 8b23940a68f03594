/**
 * Rewards: the default one, derived from a finished task's stored evaluation when read, and
 * named rewards written later (append-only: re-scoring never loses the original). The
 * task_rewards id is the monotonic cursor the trajectory feed resumes from.
 */
import { fromStoredJson, toStoredJson } from '../db/text-codec.ts';
import type { Queryable } from '../db/types.ts';
import { iso, type Row } from './rows.ts';
import type { Json, JsonObject, Task } from './types.ts';

export const DEFAULT_REWARD = 'default';

export interface DefaultReward {
  /** null when the task has no reward (not finished, failed, no evaluation it can read). */
  reward: number | null;
  /** How the value was derived, or why there is none. */
  reward_reason: string;
}

export interface TaskReward {
  /** Monotonic cursor across all tasks. */
  id: number;
  task_id: string;
  name: string;
  value: number;
  details: Json | null;
  written_by: string;
  created_at: string;
}

export interface NewReward {
  name: string;
  value: number;
  details?: Json | null;
  written_by: string;
}

const isObject = (v: Json | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The evaluation's scores by task type (AIOpsLab's keys, which the sandbox reproduces). */
function fromResults(taskType: string, results: JsonObject): DefaultReward {
  const success = results.success;
  switch (taskType) {
    case 'detection': {
      const d = results['Detection Accuracy'];
      if (typeof d !== 'string') break;
      return { reward: d === 'Correct' ? 1 : 0, reward_reason: `detection: Detection Accuracy ${d}` };
    }
    case 'localization': {
      const acc = results['Localization Accuracy'];
      if (typeof acc === 'number')
        return { reward: Math.max(0, Math.min(1, acc / 100)), reward_reason: 'localization: accuracy/100' };
      if (typeof success === 'boolean')
        return { reward: success ? 1 : 0, reward_reason: `localization: success ${success}` };
      break;
    }
    case 'analysis': {
      const sys = results.system_level_correct;
      const fault = results.fault_type_correct;
      if (typeof sys !== 'boolean' || typeof fault !== 'boolean') break;
      return {
        reward: (Number(sys) + Number(fault)) / 2,
        reward_reason: 'analysis: (system_level_correct + fault_type_correct) / 2',
      };
    }
    case 'mitigation':
      if (typeof success !== 'boolean') break;
      return { reward: success ? 1 : 0, reward_reason: `mitigation: success ${success}` };
  }
  return { reward: null, reward_reason: `no ${taskType} score in the evaluation results` };
}

/**
 * The documented default per task type: detection Correct → 1 else 0; localization
 * accuracy/100 (or success → 1); analysis (system_level_correct + fault_type_correct)/2;
 * mitigation success → 1 else 0. A task that did not complete has none, and says why.
 */
export function defaultReward(task: Pick<Task, 'status' | 'result' | 'error_details'>): DefaultReward {
  if (task.status !== 'completed') {
    const why = task.error_details ? `: ${task.error_details}` : '';
    return { reward: null, reward_reason: `task is ${task.status}${why}` };
  }
  const result = task.result;
  if (!isObject(result)) return { reward: null, reward_reason: 'result has no evaluation' };
  const results = result.results;
  const taskType = result.task_type;
  if (!isObject(results) || typeof taskType !== 'string')
    return { reward: null, reward_reason: 'result has no evaluation (results and task_type)' };
  return fromResults(taskType, results);
}

function toReward(r: Row): TaskReward {
  return {
    id: Number(r.id),
    task_id: r.task_id as string,
    name: r.name as string,
    value: Number(r.value),
    details: fromStoredJson((r.details as Json | null) ?? null),
    written_by: r.written_by as string,
    created_at: iso(r.created_at)!,
  };
}

/** Appends one reward; null when the task does not exist (the INSERT reads it in the same statement). */
export async function appendReward(db: Queryable, taskId: string, r: NewReward): Promise<TaskReward | null> {
  const { rows } = await db.query<Row>(
    `INSERT INTO task_rewards (task_id, name, value, details, written_by)
     SELECT id, $2, $3, $4::jsonb, $5 FROM tasks WHERE id = $1
     RETURNING *`,
    [taskId, r.name, r.value, r.details == null ? null : toStoredJson(r.details), r.written_by],
  );
  return rows[0] ? toReward(rows[0]) : null;
}

/** A task's reward history, oldest first (task_rewards_task_idx). */
export async function listRewards(db: Queryable, taskId: string, name?: string): Promise<TaskReward[]> {
  const { rows } = await db.query<Row>(
    `SELECT * FROM task_rewards WHERE task_id = $1 AND ($2::text IS NULL OR name = $2) ORDER BY id`,
    [taskId, name ?? null],
  );
  return rows.map(toReward);
}

/** One reward by its id (the feed's reward.updated carries the id). */
export async function getReward(db: Queryable, id: number): Promise<TaskReward | null> {
  const { rows } = await db.query<Row>('SELECT * FROM task_rewards WHERE id = $1', [id]);
  return rows[0] ? toReward(rows[0]) : null;
}

/** The newest value of each named reward, per task: what a trainer re-scores with. */
export async function latestRewards(
  db: Queryable,
  taskIds: readonly string[],
): Promise<Map<string, Record<string, number>>> {
  const { rows } = await db.query<Row>(
    `SELECT DISTINCT ON (task_id, name) task_id, name, value FROM task_rewards
     WHERE task_id = ANY($1::uuid[]) ORDER BY task_id, name, id DESC`,
    [taskIds],
  );
  const out = new Map<string, Record<string, number>>();
  for (const r of rows) {
    const named = out.get(r.task_id as string) ?? {};
    named[r.name as string] = Number(r.value);
    out.set(r.task_id as string, named);
  }
  return out;
}
