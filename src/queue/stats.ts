/**
 * Figures for health, metrics and stats, read from the counter tables the tasks triggers keep
 * (migration 0007), never from the task history: each read sums a bounded number of rows
 * (problems × statuses × stripes, or the minute buckets of a window), so it costs the same at
 * a thousand tasks or ten million.
 */
import type { Queryable } from '../db/types.ts';
import type { Row } from './rows.ts';
import { TASK_STATUSES, type TaskStatus } from './types.ts';

/** The span averages cover: the last hour (default), the last day, or since counting began. */
export const STATS_WINDOWS = ['1h', '24h', 'all'] as const;
export type StatsWindow = (typeof STATS_WINDOWS)[number];
export const WINDOW_INTERVAL: Record<Exclude<StatsWindow, 'all'>, string> = {
  '1h': '1 hour',
  '24h': '24 hours',
};

/** What happened in a window: claims and their queue wait, finished tasks and their run time. */
export interface WindowActivity {
  window: StatsWindow;
  /** Start of the window (minute-aligned); null for `all`. */
  since: string | null;
  claims: number;
  completed: number;
  /** failed + timeout */
  failed: number;
  cancelled: number;
  success_rate: number | null;
  average_wait_seconds: number | null;
  average_execution_seconds: number | null;
}

export const emptyCounts = (): Record<TaskStatus, number> =>
  Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;

export async function countsByStatus(db: Queryable): Promise<Record<TaskStatus, number>> {
  const { rows } = await db.query<Row>('SELECT status, sum(n)::float8 AS n FROM task_counts GROUP BY status');
  const out = emptyCounts();
  for (const r of rows) if ((r.status as TaskStatus) in out) out[r.status as TaskStatus] = Number(r.n);
  return out;
}

export interface ProblemCounts {
  problem_id: string;
  total: number;
  completed: number;
  failed: number;
  success_rate: number | null;
}

export async function countsByProblem(db: Queryable, limit: number): Promise<ProblemCounts[]> {
  const { rows } = await db.query<Row>(
    `SELECT problem_id, sum(n)::float8 AS total,
       COALESCE(sum(n) FILTER (WHERE status = 'completed'), 0)::float8 AS completed,
       COALESCE(sum(n) FILTER (WHERE status IN ('failed', 'timeout')), 0)::float8 AS failed
     FROM task_counts GROUP BY problem_id HAVING sum(n) > 0
     ORDER BY total DESC, problem_id LIMIT $1`,
    [limit],
  );
  return rows.map((r) => {
    const completed = Number(r.completed);
    const failed = Number(r.failed);
    return {
      problem_id: r.problem_id as string,
      total: Number(r.total),
      completed,
      failed,
      success_rate: ratio(completed, completed + failed),
    };
  });
}

/** Tasks per worker: finished (from worker_task_counts) and running (the running index). */
export async function countsByWorker(db: Queryable, limit: number): Promise<Record<string, number>> {
  const { rows } = await db.query<Row>(
    `SELECT worker_id, sum(n)::float8 AS n FROM (
       SELECT worker_id, n FROM worker_task_counts
       UNION ALL
       SELECT worker_id, count(*) FROM tasks WHERE status = 'running' AND worker_id IS NOT NULL GROUP BY 1
     ) x GROUP BY worker_id HAVING sum(n) > 0 ORDER BY n DESC, worker_id LIMIT $1`,
    [limit],
  );
  return Object.fromEntries(rows.map((r) => [r.worker_id as string, Number(r.n)]));
}

/**
 * Tasks matching a filter of status / problem / backend, from the counters. The caller
 * counts the table itself for filters the counters do not know (labels, worker).
 */
export async function countMatching(
  db: Queryable,
  f: { status?: TaskStatus; problem_id?: string; backend_type?: string },
): Promise<number> {
  const { rows } = await db.query<Row>(
    `SELECT COALESCE(sum(n), 0)::float8 AS n FROM task_counts
     WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR problem_id = $2)
       AND ($3::text IS NULL OR backend_type = $3)`,
    [f.status ?? null, f.problem_id ?? null, f.backend_type ?? null],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Age of the oldest pending task: one probe of the claim index per priority (0..10). */
export async function oldestPendingAgeSeconds(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<Row>(
    `SELECT extract(epoch FROM now() - min(o.created_at))::float8 AS age
     FROM generate_series(0, 10) AS p(priority),
     LATERAL (SELECT t.created_at FROM tasks t WHERE t.status = 'pending' AND t.priority = p.priority
              ORDER BY t.priority DESC, t.seq LIMIT 1) o`,
  );
  return (rows[0]?.age as number | null) ?? null;
}

export async function activity(db: Queryable, window: StatsWindow): Promise<WindowActivity> {
  const range =
    window === 'all'
      ? `bucket = '-infinity'`
      : `bucket > '-infinity' AND bucket >= date_trunc('minute', now() - interval '${WINDOW_INTERVAL[window]}')`;
  const { rows } = await db.query<Row>(
    `SELECT COALESCE(sum(claims), 0)::float8 AS claims, COALESCE(sum(wait_seconds), 0)::float8 AS wait,
       COALESCE(sum(completed), 0)::float8 AS completed, COALESCE(sum(failed), 0)::float8 AS failed,
       COALESCE(sum(cancelled), 0)::float8 AS cancelled, COALESCE(sum(run_seconds), 0)::float8 AS run,
       ${window === 'all' ? 'NULL' : `date_trunc('minute', now() - interval '${WINDOW_INTERVAL[window]}')`} AS since
     FROM task_activity WHERE ${range}`,
  );
  const r = rows[0] ?? {};
  const claims = Number(r.claims ?? 0);
  const completed = Number(r.completed ?? 0);
  const failed = Number(r.failed ?? 0);
  return {
    window,
    since: r.since ? new Date(r.since as string).toISOString() : null,
    claims,
    completed,
    failed,
    cancelled: Number(r.cancelled ?? 0),
    success_rate: ratio(completed, completed + failed),
    average_wait_seconds: claims > 0 ? Number(r.wait) / claims : null,
    average_execution_seconds: completed > 0 ? Number(r.run) / completed : null,
  };
}

export const ratio = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);
