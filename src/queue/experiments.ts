/**
 * Experiments: a named grid (problems × agent configs × K repetitions) expanded into tasks in
 * one transaction, its progress, and its cancel. Each task carries its group: same problem and
 * same agent config, shared by the K repetitions as GRPO needs.
 */
import { createHash, randomUUID } from 'node:crypto';
import { fromStoredJson, toStoredJson } from '../db/text-codec.ts';
import type { Db, Queryable } from '../db/types.ts';
import { iso, type Row } from './rows.ts';
import { insertTasks } from './tasks.ts';
import type { JsonObject, NewTask, TaskStatus } from './types.ts';
import { TASK_STATUSES } from './types.ts';

/** One cell of the grid before expansion: a problem under one agent config (index into the list). */
export interface GridCell {
  problem_id: string;
  config_index: number;
  /** The task as it would be submitted alone (options, agent_config, policy_version). */
  task: NewTask;
}

export interface NewExperiment {
  name: string;
  spec: JsonObject;
  cells: readonly GridCell[];
  repetitions: number;
  created_by: string;
  /** Unique when given: a second create with it returns the first experiment. */
  idempotency_key?: string | null;
}

export interface ExperimentProgress {
  by_status: Record<TaskStatus, number>;
  total: number;
  finished: number;
  /** completed / (completed + failed + timeout); null before any of them. */
  success_rate: number | null;
  groups_total: number;
  /** Groups whose every repetition is terminal. */
  groups_complete: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost: number | null;
  first_started_at: string | null;
  last_completed_at: string | null;
  /** First start → last end once every task is terminal, else → now. */
  wall_seconds: number | null;
}

export interface Experiment {
  id: string;
  name: string;
  status: 'pending' | 'running' | 'completed' | 'cancelled';
  spec: JsonObject;
  task_count: number;
  group_count: number;
  created_by: string;
  idempotency_key: string | null;
  created_at: string;
  cancelled_at: string | null;
  progress: ExperimentProgress;
}

/**
 * A group id is a UUID derived from (experiment, problem, agent config index): the same cell
 * always gets the same id, so a trainer (or a retry of the expansion) can recompute it.
 */
export function groupId(experimentId: string, problemId: string, configIndex: number): string {
  const h = createHash('sha256').update(`${experimentId}\0${problemId}\0${configIndex}`).digest('hex');
  // Shaped as an RFC 9562 version-8 (custom) UUID.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((Number.parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The grid's tasks, cell by cell, repetition by repetition (so a group's tasks are adjacent in seq). */
function expand(experimentId: string, e: NewExperiment): NewTask[] {
  const tasks: NewTask[] = [];
  for (const cell of e.cells) {
    const group = groupId(experimentId, cell.problem_id, cell.config_index);
    for (let r = 0; r < e.repetitions; r++)
      tasks.push({
        ...cell.task,
        idempotency_key: null,
        experiment: { experiment_id: experimentId, group_id: group, repetition: r },
      });
  }
  return tasks;
}

/**
 * The experiment row and all its tasks in one transaction: a failure anywhere (a value the
 * database refuses) leaves neither. The tasks go in through insertTasks' single statement.
 */
export async function createExperiment(
  db: Db,
  e: NewExperiment,
): Promise<{ id: string; tasks: number; created: boolean }> {
  const id = randomUUID();
  const tasks = expand(id, e);
  return db.transaction(async (q) => {
    const inserted = await q.query<Row>(
      `INSERT INTO experiments (id, name, spec, task_count, group_count, created_by, idempotency_key)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
      [
        id,
        e.name,
        toStoredJson(e.spec),
        tasks.length,
        e.cells.length,
        e.created_by,
        e.idempotency_key ?? null,
      ],
    );
    if (inserted.rows.length === 0) {
      const { rows } = await q.query<Row>(
        'SELECT id, task_count FROM experiments WHERE idempotency_key = $1',
        [e.idempotency_key],
      );
      return { id: rows[0]!.id as string, tasks: Number(rows[0]!.task_count), created: false };
    }
    await insertTasks(q, tasks);
    return { id, tasks: tasks.length, created: true };
  });
}

// Per experiment, by status: counts, first start, last end (tasks_experiment_idx).
const STATUS_SQL = `
SELECT experiment_id, status, count(*)::int AS n, min(started_at) AS first_start, max(completed_at) AS last_end
FROM tasks WHERE experiment_id = ANY($1::uuid[]) GROUP BY experiment_id, status`;

// Groups whose every task is terminal.
const GROUPS_SQL = `
SELECT experiment_id, count(*)::int AS total, count(*) FILTER (WHERE done)::int AS complete
FROM (SELECT experiment_id, group_id,
             bool_and(status IN ('completed', 'failed', 'timeout', 'cancelled')) AS done
      FROM tasks WHERE experiment_id = ANY($1::uuid[]) GROUP BY experiment_id, group_id) g
GROUP BY experiment_id`;

// Tokens and cost summed over the conversations of the experiment's tasks (llm_conversations_task_idx).
const USAGE_SQL = `
SELECT t.experiment_id, sum(c.prompt_tokens)::float8 AS prompt_tokens,
       sum(c.completion_tokens)::float8 AS completion_tokens, sum(c.total_tokens)::float8 AS total_tokens,
       sum(c.cost)::float8 AS cost
FROM tasks t JOIN llm_conversations c ON c.task_id = t.id
WHERE t.experiment_id = ANY($1::uuid[]) GROUP BY t.experiment_id`;

const emptyCounts = (): Record<TaskStatus, number> =>
  Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;

async function progressOf(db: Queryable, ids: string[]): Promise<Map<string, ExperimentProgress>> {
  const [statuses, groups, usage] = await Promise.all([
    db.query<Row>(STATUS_SQL, [ids]),
    db.query<Row>(GROUPS_SQL, [ids]),
    db.query<Row>(USAGE_SQL, [ids]),
  ]);
  const out = new Map<string, ExperimentProgress>();
  for (const id of ids) {
    const by = emptyCounts();
    let first: number | null = null;
    let last: number | null = null;
    for (const r of statuses.rows.filter((x) => x.experiment_id === id)) {
      by[r.status as TaskStatus] = Number(r.n);
      const s = r.first_start == null ? null : Date.parse(iso(r.first_start)!);
      const e = r.last_end == null ? null : Date.parse(iso(r.last_end)!);
      if (s !== null && (first === null || s < first)) first = s;
      if (e !== null && (last === null || e > last)) last = e;
    }
    const total = Object.values(by).reduce((a, b) => a + b, 0);
    const finished = by.completed + by.failed + by.timeout + by.cancelled;
    const scored = by.completed + by.failed + by.timeout;
    const g = groups.rows.find((x) => x.experiment_id === id);
    const u = usage.rows.find((x) => x.experiment_id === id);
    const end = finished === total ? last : Date.now();
    out.set(id, {
      by_status: by,
      total,
      finished,
      success_rate: scored === 0 ? null : by.completed / scored,
      groups_total: Number(g?.total ?? 0),
      groups_complete: Number(g?.complete ?? 0),
      prompt_tokens: Number(u?.prompt_tokens ?? 0),
      completion_tokens: Number(u?.completion_tokens ?? 0),
      total_tokens: Number(u?.total_tokens ?? 0),
      cost: u?.cost == null ? null : Number(u.cost),
      first_started_at: first === null ? null : new Date(first).toISOString(),
      last_completed_at: last === null ? null : new Date(last).toISOString(),
      wall_seconds: first === null || end === null ? null : Math.max(0, (end - first) / 1000),
    });
  }
  return out;
}

function toExperiment(r: Row, progress: ExperimentProgress): Experiment {
  const cancelled = r.cancelled_at != null;
  const status = cancelled
    ? 'cancelled'
    : progress.finished === progress.total
      ? 'completed'
      : progress.first_started_at !== null
        ? 'running'
        : 'pending';
  return {
    id: r.id as string,
    name: r.name as string,
    status,
    spec: fromStoredJson(r.spec as JsonObject),
    task_count: Number(r.task_count),
    group_count: Number(r.group_count),
    created_by: r.created_by as string,
    idempotency_key: (r.idempotency_key as string | null) ?? null,
    created_at: iso(r.created_at)!,
    cancelled_at: iso(r.cancelled_at),
    progress,
  };
}

export async function getExperiment(db: Queryable, id: string): Promise<Experiment | null> {
  const { rows } = await db.query<Row>('SELECT * FROM experiments WHERE id = $1', [id]);
  if (!rows[0]) return null;
  const progress = await progressOf(db, [id]);
  return toExperiment(rows[0], progress.get(id)!);
}

/** Newest first (experiments_created_idx), each with its progress. */
export async function listExperiments(
  db: Queryable,
  page: { limit: number; offset: number },
): Promise<{ experiments: Experiment[]; total: number }> {
  const [list, count] = await Promise.all([
    db.query<Row>('SELECT * FROM experiments ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2', [
      page.limit,
      page.offset,
    ]),
    db.query<{ n: number }>('SELECT count(*)::int AS n FROM experiments'),
  ]);
  const ids = list.rows.map((r) => r.id as string);
  const progress = ids.length ? await progressOf(db, ids) : new Map<string, ExperimentProgress>();
  return {
    experiments: list.rows.map((r) => toExperiment(r, progress.get(r.id as string)!)),
    total: count.rows[0]?.n ?? 0,
  };
}

/** Marks the experiment cancelled (first time only); false when it does not exist. */
export async function markCancelled(db: Queryable, id: string): Promise<boolean> {
  const { rows } = await db.query(
    'UPDATE experiments SET cancelled_at = COALESCE(cancelled_at, now()) WHERE id = $1 RETURNING id',
    [id],
  );
  return rows.length > 0;
}

/** A group's tasks in repetition order (tasks_group_idx), as the API shows tasks. */
export async function groupTasks(db: Queryable, groupId: string): Promise<Row[]> {
  const { rows } = await db.query<Row>('SELECT * FROM tasks WHERE group_id = $1 ORDER BY repetition, id', [
    groupId,
  ]);
  return rows;
}
