/**
 * Which pending tasks no live worker can run, and why: a task whose backend_type no worker
 * drives, or whose problem no worker advertises, waits in `pending` rather than failing, and
 * this is how a user finds out. "Live" is what the claim would accept: a registered worker that
 * is neither offline nor draining. The match is the claim's own (backend affinity, then
 * problem_patterns, empty = every problem).
 */
import type { Queryable } from '../db/types.ts';

const CAN_RUN = `(t.backend_type IS NULL OR t.backend_type = w.backend_type)
  AND (cardinality(w.problem_patterns) = 0 OR t.problem_id LIKE ANY (w.problem_patterns))`;
const LIVE = `w.status NOT IN ('offline', 'draining')`;

/**
 * Pending tasks that no live worker could claim, grouped by problem and backend. The pending
 * counts come from task_counts, so a backlog of a million costs what a backlog of ten does.
 */
export async function unroutablePending(
  db: Queryable,
): Promise<{ problem_id: string; backend_type: string | null; count: number }[]> {
  const { rows } = await db.query<{ problem_id: string; backend_type: string | null; count: number }>(
    `SELECT t.problem_id, t.backend_type, t.count
     FROM (SELECT problem_id, NULLIF(backend_type, '') AS backend_type, sum(n)::float8 AS count
           FROM task_counts WHERE status = 'pending' GROUP BY 1, 2 HAVING sum(n) > 0) t
     WHERE NOT EXISTS (SELECT 1 FROM workers w WHERE ${LIVE} AND ${CAN_RUN})
     ORDER BY t.count DESC, t.problem_id`,
  );
  return rows.map((r) => ({ ...r, count: Number(r.count) }));
}

interface LiveWorker {
  backend_type: string;
  can_run: boolean;
  any_problem: boolean;
}

/** Why a pending task with this problem and backend waits with no taker, or null when some live worker can run it. */
export async function waitingReason(
  db: Queryable,
  task: { problem_id: string; backend_type: string | null },
): Promise<string | null> {
  const { rows } = await db.query<LiveWorker>(
    `SELECT w.backend_type, (${CAN_RUN}) AS can_run, cardinality(w.problem_patterns) = 0 AS any_problem
     FROM workers w, (SELECT $1::text AS problem_id, $2::text AS backend_type) t
     WHERE ${LIVE}`,
    [task.problem_id, task.backend_type],
  );
  if (rows.some((w) => w.can_run)) return null;
  if (rows.length === 0)
    return 'No live worker is registered: start one (in-process workers or `task-executor worker`).';
  const ofBackend = task.backend_type ? rows.filter((w) => w.backend_type === task.backend_type) : rows;
  if (task.backend_type && ofBackend.length === 0) {
    const types = [...new Set(rows.map((w) => w.backend_type))].sort().join(', ');
    return `No live worker drives backend "${task.backend_type}" (live workers drive: ${types}).`;
  }
  const types = [...new Set(ofBackend.map((w) => w.backend_type))].sort().join(', ');
  return `No live worker offers problem "${task.problem_id}" (${ofBackend.length} live ${types} worker(s) advertise other problems; GET /api/v1/problems lists them).`;
}
