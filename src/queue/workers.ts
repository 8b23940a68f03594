/** Worker registry: registration, heartbeats (which extend leases), reads. */
import type { Queryable } from '../db/types.ts';
import { type Row, toWorker } from './rows.ts';
import { ratio, type StatsWindow, WINDOW_INTERVAL } from './stats.ts';
import type { Lease, Worker, WorkerRegistration, WorkerStatus } from './types.ts';

/** Word separators in problem ids (AIOpsLab's and the predecessor's ids use these). */
const WORD_SEPARATORS = ['-', '\\_'];

/**
 * supported_problems → LIKE patterns, so the claim (and routing.ts) match in SQL:
 * - an entry with `*` or `?` is a glob over the whole problem id (`k8s_*-detection-?`);
 * - an entry without is found inside the id as the predecessor matched every entry (substring),
 *   but only as whole words (words end at `-`, `_` or the ends of the id): `sock-shop` takes
 *   `sock-shop-chaos`, `hotel_res` takes `misconfig_app_hotel_res-detection-1`, and an exact id
 *   `…-detection-1` still takes itself but not `…-detection-10`. One entry is 9 patterns (the id
 *   itself first; then the entry with a separator after, before, or both), since LIKE cannot say
 *   "a separator or the end".
 */
export function globsToLikePatterns(globs: readonly string[]): string[] {
  return globs.flatMap((g) => {
    const e = g.replace(/[\\%_]/g, (c) => `\\${c}`);
    if (/[*?]/.test(g)) return [e.replace(/[*?]/g, (c) => (c === '*' ? '%' : '_'))];
    const out = [e];
    for (const s of WORD_SEPARATORS) out.push(`${e}${s}%`, `%${s}${e}`);
    for (const a of WORD_SEPARATORS) for (const b of WORD_SEPARATORS) out.push(`%${a}${e}${b}%`);
    return out;
  });
}

// Running tasks come from the running-task index (a worker holds few); finished counts from
// worker_task_counts, which the tasks triggers keep (migration 0007). Nothing here reads the
// worker's history, so a heartbeat or an empty claim costs the same after a million tasks.
const WORKER_SELECT = `
SELECT w.*, r.running_tasks, r.current_task_id, c.tasks_completed, c.tasks_failed
FROM workers w
LEFT JOIN LATERAL (
  SELECT count(*)::int AS running_tasks, (array_agg(t.id ORDER BY t.started_at DESC))[1] AS current_task_id
  FROM tasks t WHERE t.worker_id = w.id AND t.status = 'running'
) r ON true
LEFT JOIN LATERAL (
  SELECT COALESCE(sum(n) FILTER (WHERE k.status = 'completed'), 0)::int AS tasks_completed,
         COALESCE(sum(n) FILTER (WHERE k.status IN ('failed', 'timeout')), 0)::int AS tasks_failed
  FROM worker_task_counts k WHERE k.worker_id = w.id
) c ON true`;

export async function registerWorker(db: Queryable, reg: WorkerRegistration): Promise<Worker> {
  await db.query(
    `INSERT INTO workers (id, backend_type, capabilities, max_parallel_tasks, problem_patterns, metadata, status, last_heartbeat)
     VALUES ($1, $2, $3::jsonb, $4, $5::text[], $6::jsonb, 'idle', now())
     ON CONFLICT (id) DO UPDATE SET backend_type = EXCLUDED.backend_type, capabilities = EXCLUDED.capabilities,
       max_parallel_tasks = EXCLUDED.max_parallel_tasks, problem_patterns = EXCLUDED.problem_patterns,
       metadata = EXCLUDED.metadata, status = 'idle', last_heartbeat = now()`,
    [
      reg.id,
      reg.backend_type,
      JSON.stringify(reg.capabilities),
      reg.capabilities.max_parallel_tasks,
      globsToLikePatterns(reg.capabilities.supported_problems),
      JSON.stringify(reg.metadata),
    ],
  );
  return (await getWorker(db, reg.id))!;
}

export async function getWorker(db: Queryable, id: string): Promise<Worker | null> {
  const { rows } = await db.query<Row>(`${WORKER_SELECT} WHERE w.id = $1`, [id]);
  return rows[0] ? toWorker(rows[0]) : null;
}

/**
 * Each worker's kind for routing: workers of one kind (backend and problem patterns) would
 * claim the same tasks, so an empty claim for one says the queue has nothing for the others.
 */
export async function routingKinds(db: Queryable, ids: readonly string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; kind: string }>(
    `SELECT id, backend_type || '|' || array_to_string(problem_patterns, '|') AS kind
     FROM workers WHERE id = ANY($1::text[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.kind]));
}

export async function listWorkers(
  db: Queryable,
  f: { status?: WorkerStatus; backend_type?: string } = {},
): Promise<Worker[]> {
  const { rows } = await db.query<Row>(
    `${WORKER_SELECT} WHERE ($1::text IS NULL OR w.backend_type = $1) ORDER BY w.id`,
    [f.backend_type ?? null],
  );
  const workers = rows.map(toWorker);
  return f.status ? workers.filter((w) => w.status === f.status) : workers;
}

/**
 * Records liveness. A reported status is stored (busy as idle: busy is derived from running
 * tasks); without one the stored status stays, except that a heartbeat revives an offline worker.
 * `reason` says why a worker claims nothing (a cluster reset…), kept as metadata.status_reason
 * because the status set is fixed by the schema: a string sets it, null clears it, undefined
 * (a client that never sends one) leaves it.
 */
export async function touchWorker(
  db: Queryable,
  id: string,
  status?: WorkerStatus,
  reason?: string | null,
): Promise<boolean> {
  const next = status === undefined ? null : status === 'busy' ? 'idle' : status;
  const { rowCount } = await db.query(
    `UPDATE workers SET last_heartbeat = now(),
       status = COALESCE($2, CASE WHEN status = 'offline' THEN 'idle' ELSE status END),
       metadata = CASE WHEN NOT $3::boolean THEN metadata
                       WHEN $4::text IS NULL THEN metadata - 'status_reason'
                       ELSE metadata || jsonb_build_object('status_reason', $4::text) END
     WHERE id = $1`,
    [id, next, reason !== undefined, reason ?? null],
  );
  return rowCount > 0;
}

/**
 * What a claim records of its workers' liveness (claim_tasks), for many workers in one
 * statement: the long-poll dispatcher parks a renewal without claiming when the worker's last
 * claim found nothing and no work arrived since, and records its liveness here instead. A
 * draining worker is left as it is, as claim_tasks leaves it. Returns the ids that exist.
 */
export async function recordClaimLiveness(db: Queryable, ids: readonly string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    // Rows locked in id order: two replicas touching overlapping fleets cannot deadlock.
    `WITH locked AS (
       SELECT id FROM workers WHERE id = ANY($1::text[]) AND status <> 'draining' ORDER BY id FOR UPDATE
     ), touched AS (
       UPDATE workers w SET last_heartbeat = now(),
         status = CASE WHEN w.status = 'offline' THEN 'idle' ELSE w.status END
       FROM locked WHERE w.id = locked.id
     )
     SELECT id FROM workers WHERE id = ANY($1::text[])`,
    [ids],
    { prepared: 'workers_claim_liveness' },
  );
  return new Set(rows.map((r) => r.id));
}

// Lease extension, fenced: only tasks this worker holds (at the given attempts, when given)
// are extended; the caller compares what came back with what it asked for.
export async function extendLeases(
  db: Queryable,
  workerId: string,
  leases: readonly Lease[] | null,
  leaseSeconds: number,
): Promise<{ task_id: string; attempt: number; cancel_requested: boolean }[]> {
  const { rows } = await db.query<Row>(
    `UPDATE tasks SET lease_expires_at = now() + $2::int * interval '1 second'
     WHERE worker_id = $1 AND status = 'running'
       AND ($3::uuid[] IS NULL OR (id, attempt) IN (SELECT * FROM unnest($3::uuid[], $4::int[])))
     RETURNING id, attempt, cancel_requested_at IS NOT NULL AS cancel_requested`,
    [
      workerId,
      leaseSeconds,
      leases ? leases.map((l) => l.task_id) : null,
      leases ? leases.map((l) => l.attempt) : null,
    ],
  );
  return rows.map((r) => ({
    task_id: r.id as string,
    attempt: Number(r.attempt),
    cancel_requested: Boolean(r.cancel_requested),
  }));
}

/**
 * Of the leases a heartbeat named but could not extend, the tasks this worker itself ended
 * at that attempt (completed, or failed/cancelled by its own report) a moment before: a
 * heartbeat racing the worker's own report, not a fencing refusal. The reaper's endings
 * (timeout, "worker lost") are refusals: the worker had lost the task.
 */
export async function endedByHolder(
  db: Queryable,
  workerId: string,
  leases: readonly Lease[],
): Promise<Set<string>> {
  const { rows } = await db.query<Row>(
    `SELECT t.id FROM tasks t JOIN unnest($2::uuid[], $3::int[]) AS l(id, attempt)
       ON t.id = l.id AND t.attempt = l.attempt
     WHERE t.worker_id = $1
       AND (t.status = 'completed'
         OR (t.status IN ('failed', 'cancelled') AND t.error_details IS NOT NULL
             AND t.error_details ->> 'reason' IS DISTINCT FROM 'worker lost'))`,
    [workerId, leases.map((l) => l.task_id), leases.map((l) => l.attempt)],
  );
  return new Set(rows.map((r) => r.id as string));
}

export async function markStaleWorkersOffline(
  db: Queryable,
  heartbeatTimeoutSeconds: number,
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE workers SET status = 'offline'
     WHERE status <> 'offline' AND last_heartbeat < now() - $1::int * interval '1 second'`,
    [heartbeatTimeoutSeconds],
  );
  return rowCount;
}

export interface WorkerStats {
  worker_id: string;
  /** All-time counts (the worker's finished tasks still in the table, and those it runs now). */
  tasks_completed: number;
  tasks_failed: number;
  tasks_cancelled: number;
  tasks_running: number;
  tasks_total: number;
  success_rate: number | null;
  /** Over `window`: the worker's completions in it and their mean run time. */
  average_execution_seconds: number | null;
  window: { window: StatsWindow; since: string | null; completed: number; failed: number };
}

export async function workerStats(
  db: Queryable,
  id: string,
  window: StatsWindow = '1h',
): Promise<WorkerStats> {
  const [totals, recent] = await Promise.all([
    db.query<Row>(
      `SELECT COALESCE(sum(n) FILTER (WHERE status = 'completed'), 0)::float8 AS completed,
              COALESCE(sum(n) FILTER (WHERE status IN ('failed', 'timeout')), 0)::float8 AS failed,
              COALESCE(sum(n) FILTER (WHERE status = 'cancelled'), 0)::float8 AS cancelled,
              COALESCE(sum(run_seconds) FILTER (WHERE status = 'completed'), 0)::float8 AS run,
              (SELECT count(*) FROM tasks WHERE worker_id = $1 AND status = 'running')::int AS running
       FROM worker_task_counts WHERE worker_id = $1`,
      [id],
    ),
    window === 'all' ? Promise.resolve(null) : workerWindow(db, id, window),
  ]);
  const t = totals.rows[0] ?? {};
  const completed = Number(t.completed ?? 0);
  const failed = Number(t.failed ?? 0);
  const cancelled = Number(t.cancelled ?? 0);
  const running = Number(t.running ?? 0);
  return {
    worker_id: id,
    tasks_completed: completed,
    tasks_failed: failed,
    tasks_cancelled: cancelled,
    tasks_running: running,
    tasks_total: completed + failed + cancelled + running,
    success_rate: ratio(completed, completed + failed),
    average_execution_seconds: recent ? recent.average : completed > 0 ? Number(t.run) / completed : null,
    window: recent
      ? { window, since: recent.since, completed: recent.completed, failed: recent.failed }
      : { window, since: null, completed, failed },
  };
}

/** A worker's tasks finished in the window, from its minute buckets (worker_activity). */
async function workerWindow(db: Queryable, id: string, window: Exclude<StatsWindow, 'all'>) {
  const { rows } = await db.query<Row>(
    `SELECT date_trunc('minute', now() - $2::interval) AS since,
       COALESCE(sum(completed), 0)::float8 AS completed, COALESCE(sum(failed), 0)::float8 AS failed,
       COALESCE(sum(run_seconds), 0)::float8 AS run
     FROM worker_activity
     WHERE worker_id = $1 AND bucket >= date_trunc('minute', now() - $2::interval)`,
    [id, WINDOW_INTERVAL[window]],
  );
  const r = rows[0] ?? {};
  const completed = Number(r.completed ?? 0);
  return {
    since: r.since ? new Date(r.since as string).toISOString() : null,
    completed,
    failed: Number(r.failed ?? 0),
    average: completed > 0 ? Number(r.run) / completed : null,
  };
}

export async function workerCountsByStatus(db: Queryable): Promise<Record<WorkerStatus, number>> {
  const { rows } = await db.query<Row>(
    `SELECT CASE WHEN w.status = 'idle' AND EXISTS (
              SELECT 1 FROM tasks t WHERE t.worker_id = w.id AND t.status = 'running') THEN 'busy'
            ELSE w.status END AS status, count(*)::int AS n
     FROM workers w GROUP BY 1`,
  );
  const out: Record<WorkerStatus, number> = { idle: 0, busy: 0, offline: 0, draining: 0 };
  for (const r of rows) out[r.status as WorkerStatus] = Number(r.n);
  return out;
}
