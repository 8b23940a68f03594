/** Task submission and reads. Status changes live in transitions.ts. */
import { toStoredJson } from '../db/text-codec.ts';
import type { Queryable } from '../db/types.ts';
import { type Row, toTask } from './rows.ts';
import {
  activity,
  countMatching,
  countsByProblem,
  countsByStatus,
  countsByWorker,
  oldestPendingAgeSeconds,
  type ProblemCounts,
  ratio,
  type StatsWindow,
  type WindowActivity,
} from './stats.ts';
import { SERVER_LOG } from './transitions.ts';
import type { NewTask, Task, TaskStatus } from './types.ts';

export interface CreatedTask {
  task: Task;
  /** false when an idempotency key matched a task submitted earlier. */
  created: boolean;
}

// One statement for the whole batch: unnest keeps submit order, so seq (and FIFO) follows it.
// A row whose idempotency key already exists inserts nothing; the original is read back below.
// Each new task gets its 'created' server log entry in the same statement (transitions.ts).
const INSERT_SQL = `
WITH created AS (
  INSERT INTO tasks (problem_id, priority, backend_type, parameters, max_attempts, idempotency_key,
                     policy_version, experiment_id, group_id, repetition)
  SELECT u.problem_id, u.priority, u.backend_type, u.parameters::jsonb, u.max_attempts, u.idempotency_key,
         u.policy_version, u.experiment_id, u.group_id, u.repetition
  FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::int[], $6::text[],
              $7::bigint[], $8::uuid[], $9::uuid[], $10::int[])
    WITH ORDINALITY AS u(problem_id, priority, backend_type, parameters, max_attempts, idempotency_key,
                         policy_version, experiment_id, group_id, repetition, ord)
  ORDER BY u.ord
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING *
), logged AS (${SERVER_LOG(
  'created',
  `'info'`,
  `format('Task created (problem %s, priority %s%s)', created.problem_id, created.priority,
    ', backend ' || created.backend_type)`,
  `jsonb_build_object('event', 'created', 'problem_id', created.problem_id,
    'priority', created.priority, 'backend_type', created.backend_type)`,
)})
SELECT * FROM created`;

export async function insertTasks(db: Queryable, inputs: readonly NewTask[]): Promise<CreatedTask[]> {
  const { rows } = await db.query<Row>(
    INSERT_SQL,
    [
      inputs.map((t) => t.problem_id),
      inputs.map((t) => t.priority),
      inputs.map((t) => t.backend_type),
      inputs.map((t) => toStoredJson(t.parameters)),
      inputs.map((t) => t.max_attempts),
      inputs.map((t) => t.idempotency_key),
      inputs.map((t) => t.policy_version ?? null),
      inputs.map((t) => t.experiment?.experiment_id ?? null),
      inputs.map((t) => t.experiment?.group_id ?? null),
      inputs.map((t) => t.experiment?.repetition ?? null),
    ],
    { prepared: 'queue_insert_tasks' },
  );
  const byKey = new Map<string, Row>();
  const fresh = [...rows].sort((a, b) => Number(a.seq) - Number(b.seq));
  for (const r of fresh) if (r.idempotency_key) byKey.set(r.idempotency_key as string, r);
  const missingKeys = inputs
    .map((t) => t.idempotency_key)
    .filter((k): k is string => k !== null && !byKey.has(k));
  const existing = new Map<string, Row>();
  if (missingKeys.length > 0) {
    const found = await db.query<Row>('SELECT * FROM tasks WHERE idempotency_key = ANY($1::text[])', [
      missingKeys,
    ]);
    for (const r of found.rows) existing.set(r.idempotency_key as string, r);
  }
  // Walk the inputs in order: keyless rows take the next fresh row; keyed rows their own.
  const keyless = fresh.filter((r) => !r.idempotency_key);
  let k = 0;
  const seen = new Set<string>();
  return inputs.map((t) => {
    if (t.idempotency_key === null) return { task: toTask(keyless[k++]!), created: true };
    const key = t.idempotency_key;
    const mine = byKey.get(key);
    if (mine && !seen.has(key)) {
      seen.add(key);
      return { task: toTask(mine), created: true };
    }
    return { task: toTask((mine ?? existing.get(key))!), created: false };
  });
}

export async function getTask(db: Queryable, id: string): Promise<Task | null> {
  const { rows } = await db.query<Row>('SELECT * FROM tasks WHERE id = $1', [id]);
  return rows[0] ? toTask(rows[0]) : null;
}

export interface TaskSort {
  column: 'created_at' | 'updated_at' | 'started_at' | 'completed_at' | 'priority';
  desc: boolean;
}

export interface TaskFilter {
  status?: TaskStatus;
  problem_id?: string;
  worker_id?: string;
  backend_type?: string;
  labels?: Record<string, string>;
  experiment_id?: string;
  group_id?: string;
  /** policy_version equal to, or within [min, max] (either end optional). */
  policy_version?: number;
  policy_version_min?: number;
  policy_version_max?: number;
  /** Default: newest first. */
  sort?: TaskSort;
  limit: number;
  offset: number;
}

/** Columns a list may sort by; the nullable ones put tasks without the time last, either way. */
const SORT_COLUMNS: Record<TaskSort['column'], { nullable: boolean }> = {
  created_at: { nullable: false },
  updated_at: { nullable: false },
  started_at: { nullable: true },
  completed_at: { nullable: true },
  priority: { nullable: false },
};

/**
 * ORDER BY for a sort, seq breaking ties in the same direction. The default (created_at DESC,
 * seq DESC) is exactly tasks_created_idx, so the newest page reads the index and stops;
 * NULLS LAST is added only where NULLs can exist, since it would keep that index unused.
 */
function orderBy(sort: TaskSort = { column: 'created_at', desc: true }): string {
  const column = SORT_COLUMNS[sort.column] ? sort.column : 'created_at';
  const dir = sort.desc ? 'DESC' : 'ASC';
  const nulls = SORT_COLUMNS[column].nullable ? ' NULLS LAST' : '';
  return `${column} ${dir}${nulls}, seq ${dir}`;
}

export async function listTasks(db: Queryable, f: TaskFilter): Promise<{ tasks: Task[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: (n: string) => string, value: unknown) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (f.status) add((n) => `status = ${n}`, f.status);
  if (f.problem_id) add((n) => `problem_id = ${n}`, f.problem_id);
  if (f.worker_id) add((n) => `worker_id = ${n}`, f.worker_id);
  if (f.backend_type) add((n) => `backend_type = ${n}`, f.backend_type);
  // Partial indexes from 0010 serve these (experiment, group, policy_version).
  if (f.experiment_id) add((n) => `experiment_id = ${n}::uuid`, f.experiment_id);
  if (f.group_id) add((n) => `group_id = ${n}::uuid`, f.group_id);
  if (f.policy_version !== undefined) add((n) => `policy_version = ${n}::bigint`, f.policy_version);
  if (f.policy_version_min !== undefined) add((n) => `policy_version >= ${n}::bigint`, f.policy_version_min);
  if (f.policy_version_max !== undefined) add((n) => `policy_version <= ${n}::bigint`, f.policy_version_max);
  // Containment uses the GIN index on parameters->'labels'.
  if (f.labels && Object.keys(f.labels).length > 0)
    add((n) => `parameters -> 'labels' @> ${n}::jsonb`, toStoredJson(f.labels));
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const [total, page] = await Promise.all([
    countTasks(db, f, clause, params),
    db.query<Row>(
      `SELECT * FROM tasks ${clause} ORDER BY ${orderBy(f.sort)} LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, f.limit, f.offset],
    ),
  ]);
  return { tasks: page.rows.map(toTask), total };
}

/**
 * The list's total: from the counters when the filter is one they know (status, problem,
 * backend), so paging a million tasks does not count them on every page; a worker, label,
 * experiment, group or policy_version filter counts the matching rows through their indexes.
 */
async function countTasks(db: Queryable, f: TaskFilter, clause: string, params: unknown[]): Promise<number> {
  const hasLabels = f.labels !== undefined && Object.keys(f.labels).length > 0;
  const rl =
    f.experiment_id ?? f.group_id ?? f.policy_version ?? f.policy_version_min ?? f.policy_version_max;
  if (!f.worker_id && !hasLabels && rl === undefined) return countMatching(db, f);
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks ${clause}`, params);
  return rows[0]?.n ?? 0;
}

export interface TaskStats {
  /** Tasks in the table now, by status (exact, from the counters). */
  total: number;
  by_status: Record<TaskStatus, number>;
  /** completed / (completed + failed + timeout) over the tasks in the table. */
  success_rate: number | null;
  /** Averages over `window` (see WindowActivity). */
  average_wait_seconds: number | null;
  average_execution_seconds: number | null;
  oldest_pending_age_seconds: number | null;
  window: WindowActivity;
  by_problem: ProblemCounts[];
  /** Tasks per worker (finished and running); empty unless asked for with the problems. */
  by_worker: Record<string, number>;
}

/** Counts from the counter tables, averages over a window of the activity buckets. */
export async function taskStats(
  db: Queryable,
  withProblems: boolean,
  window: StatsWindow = '1h',
): Promise<TaskStats> {
  const [by_status, recent, oldest, by_problem, by_worker] = await Promise.all([
    countsByStatus(db),
    activity(db, window),
    oldestPendingAgeSeconds(db),
    withProblems ? countsByProblem(db, 500) : Promise.resolve([]),
    withProblems ? countsByWorker(db, 500) : Promise.resolve({}),
  ]);
  const finished = by_status.completed + by_status.failed + by_status.timeout;
  return {
    total: Object.values(by_status).reduce((a, b) => a + b, 0),
    by_status,
    success_rate: ratio(by_status.completed, finished),
    average_wait_seconds: recent.average_wait_seconds,
    average_execution_seconds: recent.average_execution_seconds,
    oldest_pending_age_seconds: oldest,
    window: recent,
    by_problem,
    by_worker,
  };
}
