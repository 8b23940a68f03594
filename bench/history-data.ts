/**
 * The history of a long-running fleet, generated in SQL for the history benchmark
 * (bench/history.ts): finished tasks, the offline workers that ran half of them, and their log
 * lines. Plain `INSERT … SELECT … FROM generate_series`, never COPY and never with triggers
 * disabled, so whatever the schema keeps current on insert (statement-level triggers, counter
 * rows) sees the rows exactly as it would see the queue's own writes. Only the columns of the
 * schema as of migration 0006 are named; defaults fill the rest, so later columns get theirs.
 * Each statement is bounded (100k tasks, or about 1M log lines) and reports progress on stderr.
 */
import type { Db } from '../src/db/types.ts';

const TASKS_PER_STATEMENT = 100_000;
const LOGS_PER_STATEMENT = 1_000_000;
export const OTHER_WORKERS = 50;
const PROBLEMS = 20;
const PARAMETERS = JSON.stringify({
  max_steps: 30,
  timeout_minutes: 30,
  agent_config: { model: 'gpt-5-mini' },
});

export interface HistoryShape {
  tasks: number;
  logs: number;
  /** The worker that ran every other task (the bench measures its heartbeat, claim and stats). */
  measuredWorker: string;
}

export interface HistoryFigures {
  tasks: number;
  logs: number;
  tasks_seconds: number;
  logs_seconds: number;
  vacuum_analyze_seconds: number;
  by_status: Record<string, number>;
  tasks_table_mb: number;
  task_logs_table_mb: number;
  database_mb: number;
}

const otherWorkerId = (i: number) => `worker-${301 + i}-kind`;

const progress = (what: string, done: number, total: number, t0: number) =>
  process.stderr.write(
    `history: ${what} ${done.toLocaleString('en')}/${total.toLocaleString('en')} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );

// Statuses ~80% completed, 12% failed, 5% timeout, 3% cancelled; created over the last 30 days,
// started 2 s–5 min later, finished 1–10 min after that (a timeout after its 30 minutes).
// Even rows belong to the measured worker, odd rows round-robin to the 50 others. random() sits
// in the innermost target list, which PostgreSQL never flattens, so it is drawn once per row.
const INSERT_TASKS = `
WITH ins AS (
  INSERT INTO tasks (problem_id, status, priority, parameters, worker_id, attempt, result, error_details,
                     cancel_requested_at, created_at, updated_at, started_at, completed_at)
  SELECT 'history-problem-' || lpad((g % ${PROBLEMS})::text, 2, '0'), status, 5, $3::jsonb,
         CASE WHEN g % 2 = 0 THEN $4 ELSE 'worker-' || (301 + (g / 2) % ${OTHER_WORKERS}) || '-kind' END,
         1,
         CASE WHEN status = 'completed' THEN jsonb_build_object('success', true, 'steps', 1 + g % 30) END,
         CASE status
           WHEN 'failed' THEN jsonb_build_object('message', 'agent stopped without a diagnosis', 'steps', 1 + g % 30)
           WHEN 'timeout' THEN jsonb_build_object('reason', 'timeout', 'message', 'Task exceeded its timeout of 30 minutes')
         END,
         CASE WHEN status = 'cancelled' THEN started_at + run END,
         created_at, started_at + run, started_at, started_at + run
  FROM (
    SELECT g, status, created_at, created_at + (2 + r3 * 298) * interval '1 second' AS started_at,
           CASE WHEN status = 'timeout' THEN interval '30 minutes' ELSE (60 + r4 * 540) * interval '1 second' END AS run
    FROM (
      SELECT g, r3, r4, now() - r2 * interval '30 days' AS created_at,
             CASE WHEN r1 < 0.80 THEN 'completed' WHEN r1 < 0.92 THEN 'failed'
                  WHEN r1 < 0.97 THEN 'timeout' ELSE 'cancelled' END AS status
      FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4
            FROM generate_series($1::bigint, $2::bigint) AS g) AS drawn
    ) AS classified
  ) AS timed
  RETURNING seq
)
SELECT min(seq) AS first, max(seq) AS last, count(*)::int AS n FROM ins`;

// Task i (0-based, seq = $1 + i) gets log lines floor(i·L/T) … floor((i+1)·L/T) − 1, so L lines
// spread evenly over T tasks (10 each by default), timestamped across the task's run. Reads the
// chunk's tasks by seq range (a scan of tasks per statement: a second or so at 1M rows).
const INSERT_LOGS = `
INSERT INTO task_logs (task_id, timestamp, level, message, context, source, attempt)
SELECT t.id,
       t.started_at + (n - b.first)::float8 / greatest(b.next - b.first, 1) * (t.completed_at - t.started_at),
       CASE WHEN n = b.next - 1 AND t.status <> 'completed' THEN 'error'
            WHEN n % 7 = 0 THEN 'debug' ELSE 'info' END,
       'step ' || (n - b.first) || ': kubectl get pods -n test-social-network: 12 pods, 1 in CrashLoopBackOff',
       jsonb_build_object('step', n - b.first),
       'worker', 1
FROM tasks t
CROSS JOIN LATERAL (SELECT ((t.seq - $1::bigint) * $2::bigint) / $3::bigint AS first,
                           ((t.seq - $1::bigint + 1) * $2::bigint) / $3::bigint AS next) AS b
CROSS JOIN LATERAL generate_series(b.first, b.next - 1) AS n
WHERE t.seq BETWEEN $4::bigint AND $5::bigint`;

async function insertWorkers(db: Db): Promise<void> {
  await db.query(
    `INSERT INTO workers (id, backend_type, status, capabilities, max_parallel_tasks, last_heartbeat, registered_at)
     SELECT id, 'noop', 'offline', '{"max_parallel_tasks": 1, "supported_problems": []}'::jsonb, 1,
            now() - interval '1 day', now() - interval '30 days'
     FROM unnest($1::text[]) AS id`,
    [Array.from({ length: OTHER_WORKERS }, (_, i) => otherWorkerId(i))],
  );
}

/** Inserts the tasks; returns the seq of the first (they are consecutive: checked). */
async function insertTasks(db: Db, shape: HistoryShape): Promise<number> {
  const t0 = performance.now();
  let first: number | null = null;
  let expected = 0;
  for (let lo = 0; lo < shape.tasks; lo += TASKS_PER_STATEMENT) {
    const hi = Math.min(shape.tasks, lo + TASKS_PER_STATEMENT) - 1;
    const { rows } = await db.query<{ first: number; last: number; n: number }>(INSERT_TASKS, [
      lo,
      hi,
      PARAMETERS,
      shape.measuredWorker,
    ]);
    const r = rows[0]!;
    first ??= Number(r.first);
    expected = first + hi;
    // The log statements address tasks by seq; a gap (an identity cached by another session)
    // would shift them, so refuse rather than generate a skewed history.
    if (Number(r.last) !== expected || r.n !== hi - lo + 1)
      throw new Error(`history: task seqs not consecutive (chunk ending ${r.last}, expected ${expected})`);
    progress('tasks', hi + 1, shape.tasks, t0);
  }
  return first ?? 0;
}

async function insertLogs(db: Db, shape: HistoryShape, firstSeq: number): Promise<void> {
  if (shape.logs === 0 || shape.tasks === 0) return;
  const t0 = performance.now();
  const tasksPerStatement = Math.max(1, Math.floor(LOGS_PER_STATEMENT / (shape.logs / shape.tasks)));
  for (let lo = 0; lo < shape.tasks; lo += tasksPerStatement) {
    const hi = Math.min(shape.tasks, lo + tasksPerStatement) - 1;
    await db.query(INSERT_LOGS, [firstSeq, shape.logs, shape.tasks, firstSeq + lo, firstSeq + hi]);
    progress('log lines', Math.floor(((hi + 1) * shape.logs) / shape.tasks), shape.logs, t0);
  }
}

const mb = (bytes: unknown) => Math.round(Number(bytes) / 2 ** 20);

/** Generates the history, then VACUUM ANALYZE as an operator's autovacuum would have by then. */
export async function generateHistory(db: Db, shape: HistoryShape): Promise<HistoryFigures> {
  await insertWorkers(db);
  const t0 = performance.now();
  const firstSeq = await insertTasks(db, shape);
  // Fresh statistics before the log statements join against 1M new rows.
  await db.query('ANALYZE tasks');
  const t1 = performance.now();
  await insertLogs(db, shape, firstSeq);
  const t2 = performance.now();
  process.stderr.write('history: VACUUM ANALYZE\n');
  await db.query('VACUUM ANALYZE');
  const t3 = performance.now();
  const counts = await db.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM tasks WHERE problem_id LIKE 'history-problem-%' GROUP BY status`,
  );
  const by_status = Object.fromEntries(counts.rows.map((r) => [r.status, Number(r.n)]));
  const sizes = await db.query<Record<string, unknown>>(
    `SELECT (SELECT count(*) FROM task_logs)::bigint AS logs,
            pg_total_relation_size('tasks') AS tasks_bytes,
            pg_total_relation_size('task_logs') AS logs_bytes,
            pg_database_size(current_database()) AS db_bytes`,
  );
  const s = sizes.rows[0]!;
  const tasks = Object.values(by_status).reduce((a, b) => a + b, 0);
  if (tasks !== shape.tasks) throw new Error(`history: ${tasks} tasks generated, expected ${shape.tasks}`);
  // The probes write no log lines, so every line in the table is ours.
  if (Number(s.logs) !== (shape.tasks ? shape.logs : 0))
    throw new Error(`history: ${s.logs} log lines generated, expected ${shape.logs}`);
  return {
    tasks,
    logs: Number(s.logs),
    tasks_seconds: (t1 - t0) / 1000,
    logs_seconds: (t2 - t1) / 1000,
    vacuum_analyze_seconds: (t3 - t2) / 1000,
    by_status,
    tasks_table_mb: mb(s.tasks_bytes),
    task_logs_table_mb: mb(s.logs_bytes),
    database_mb: mb(s.db_bytes),
  };
}
