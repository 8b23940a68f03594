/**
 * The task state machine, written once.
 *
 *   pending ─claim─▶ running ─complete─▶ completed
 *                      │ ─fail──────▶ failed  (or cancelled when a cancel was requested)
 *                      │ ─fail(retry) / release / lease lost with attempts left─▶ pending
 *                      │ ─deadline passed─▶ timeout
 *                      │ ─lease lost, no attempts left─▶ failed ("worker lost")
 *   pending ─cancel─▶ cancelled;  running ─cancel─▶ (cancel requested; worker or reaper ends it cancelled)
 *
 * Every transition is ONE guarded SQL statement: its WHERE clause restates the state it
 * expects (status, holder, attempt, lease), so a racing transition that committed first
 * simply makes this one match nothing. Under READ COMMITTED an UPDATE that waited on a row
 * lock re-checks its WHERE against the row's newest version, which is what makes
 * "complete vs reap" safe: whichever commits first wins and the other updates zero rows.
 * Terminal states are never matched by any statement here, so they never change.
 */
import { toStoredJson } from '../db/text-codec.ts';
import type { Queryable } from '../db/types.ts';
import type { Row } from './rows.ts';

/** Columns every terminal transition sets: ends the lease and queues the callback, if any. */
const TERMINAL_SET = `
  completed_at = now(), updated_at = now(), lease_expires_at = NULL,
  callback_state = CASE WHEN tasks.parameters ->> 'callback_url' IS NOT NULL THEN 'pending' END,
  callback_next_at = CASE WHEN tasks.parameters ->> 'callback_url' IS NOT NULL THEN now() END`;

/** Columns that put a running task back in the queue for another claim. */
const REQUEUE_SET = `
  status = 'pending', worker_id = NULL, lease_expires_at = NULL, deadline_at = NULL, updated_at = now()`;

/** What a task that ran out of time records as its error. */
const TIMEOUT_DETAILS = `jsonb_build_object('reason', 'timeout',
  'message', 'Task exceeded its timeout of ' || (tasks.parameters ->> 'timeout_minutes') || ' minutes')`;

/** The holder of the current attempt: the fence every worker report must pass. */
const HELD_BY = (worker: string, attempt: string) =>
  `tasks.status = 'running' AND tasks.worker_id = ${worker} AND (${attempt}::int IS NULL OR tasks.attempt = ${attempt}::int)`;

// Claim (pending → running) is the function claim_tasks() in db/migrations/0001_init.sql:
// a function so that it can pin its planner settings (see the comment there). One call, one
// statement: it records the worker's liveness, takes its row lock (so max_parallel_tasks holds
// under concurrent claims by one worker), then reads tasks_claim_idx in (priority DESC, seq)
// order with SKIP LOCKED and stops at the worker's free slots.
const CLAIM_SQL = 'SELECT * FROM claim_tasks($1, $2, $3, $4)';

export async function claim(
  db: Queryable,
  workerId: string,
  max: number,
  leaseSeconds: number,
  claimKey: string | null = null,
): Promise<Row[]> {
  const { rows } = await db.query<Row>(CLAIM_SQL, [workerId, max, leaseSeconds, claimKey]);
  // UPDATE … FROM returns rows in no defined order; hand them out in claim order.
  return rows.sort(
    (a, b) => (b.priority as number) - (a.priority as number) || Number(a.seq) - Number(b.seq),
  );
}

/** What an earlier claim with this key handed this worker and it still holds (a retried claim). */
export async function claimedWithKey(db: Queryable, workerId: string, claimKey: string): Promise<Row[]> {
  const { rows } = await db.query<Row>(
    `SELECT * FROM tasks WHERE worker_id = $1 AND status = 'running' AND claim_key = $2
     ORDER BY priority DESC, seq`,
    [workerId, claimKey],
  );
  return rows;
}

export interface Completion {
  task_id: string;
  worker_id: string;
  attempt: number | null;
  result: unknown;
}

// Complete (running → completed), fenced by holder and attempt. Takes many completions in
// one statement so in-process workers can flush a burst of finished tasks in one commit;
// rows that fail the fence are simply not returned.
export async function complete(db: Queryable, items: readonly Completion[]): Promise<Row[]> {
  const { rows } = await db.query<Row>(
    `UPDATE tasks SET status = 'completed', result = u.result::jsonb, ${TERMINAL_SET}
     FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[]) AS u(id, worker_id, attempt, result)
     WHERE tasks.id = u.id AND ${HELD_BY('u.worker_id', 'u.attempt')}
     RETURNING tasks.*`,
    [
      items.map((i) => i.task_id),
      items.map((i) => i.worker_id),
      items.map((i) => i.attempt),
      items.map((i) => toStoredJson(i.result ?? null)),
    ],
  );
  return rows;
}

// Fail (running → failed, or cancelled when a cancel had been requested), fenced.
export async function fail(
  db: Queryable,
  taskId: string,
  workerId: string,
  attempt: number | null,
  errorDetails: unknown,
): Promise<Row | undefined> {
  const { rows } = await db.query<Row>(
    `UPDATE tasks SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'failed' END,
       error_details = $4::jsonb, ${TERMINAL_SET}
     WHERE id = $1 AND ${HELD_BY('$2', '$3')}
     RETURNING *`,
    [taskId, workerId, attempt, toStoredJson(errorDetails)],
  );
  return rows[0];
}

// Retry (running → pending) after a failure the worker marks retryable, while attempts remain
// and nobody asked to cancel. Zero rows means: not allowed, fall back to fail().
export async function retry(
  db: Queryable,
  taskId: string,
  workerId: string,
  attempt: number | null,
  errorDetails: unknown,
): Promise<Row | undefined> {
  const { rows } = await db.query<Row>(
    `UPDATE tasks SET ${REQUEUE_SET}, error_details = $4::jsonb
     WHERE id = $1 AND ${HELD_BY('$2', '$3')}
       AND cancel_requested_at IS NULL AND attempt - releases < max_attempts
     RETURNING *`,
    [taskId, workerId, attempt, toStoredJson(errorDetails)],
  );
  return rows[0];
}

// Release (running → pending) by a worker shutting down: the attempt it used is not charged
// (releases + 1), so a graceful restart never burns a task's only attempt.
// A task past its deadline is not given back (it would be requeued with a fresh deadline):
// it ends `timeout` in the same statement, as the reaper would have ended it.
export async function release(db: Queryable, taskId: string, workerId: string, attempt: number | null) {
  const { rows } = await db.query<Row>(
    `WITH expired AS (
       UPDATE tasks SET status = 'timeout', error_details = ${TIMEOUT_DETAILS}, ${TERMINAL_SET}
       WHERE id = $1 AND ${HELD_BY('$2', '$3')} AND deadline_at <= now()
       RETURNING *
     ), released AS (
       UPDATE tasks SET ${REQUEUE_SET}, releases = releases + 1
       WHERE id = $1 AND ${HELD_BY('$2', '$3')} AND cancel_requested_at IS NULL
         AND (deadline_at IS NULL OR deadline_at > now())
       RETURNING *
     )
     SELECT * FROM expired UNION ALL SELECT * FROM released`,
    [taskId, workerId, attempt],
  );
  return rows[0];
}

// Cancel (pending → cancelled) takes effect at once.
export async function cancelPending(db: Queryable, taskId: string): Promise<Row | undefined> {
  const { rows } = await db.query<Row>(
    `UPDATE tasks SET status = 'cancelled', cancel_requested_at = now(), ${TERMINAL_SET}
     WHERE id = $1 AND status = 'pending' RETURNING *`,
    [taskId],
  );
  return rows[0];
}

// Cancel of a running task only records the request; the holder stops and reports, or the
// reaper ends the task cancelled when the lease runs out.
export async function requestCancel(db: Queryable, taskId: string): Promise<Row | undefined> {
  const { rows } = await db.query<Row>(
    `UPDATE tasks SET cancel_requested_at = COALESCE(cancel_requested_at, now()), updated_at = now()
     WHERE id = $1 AND status = 'running' RETURNING *`,
    [taskId],
  );
  return rows[0];
}

/** Statements of one reaper pass; each picks at most `limit` rows with SKIP LOCKED and re-checks its guard. */
const EXPIRED = `status = 'running' AND lease_expires_at < now()`;
const PAST_DEADLINE = `status = 'running' AND deadline_at < now()`;
const pick = (guard: string, order: string) =>
  `id IN (SELECT id FROM tasks WHERE ${guard} ORDER BY ${order} LIMIT $1 FOR UPDATE SKIP LOCKED) AND ${guard}`;

export const reapStatements = {
  // running → timeout: past its deadline, whoever holds it.
  timeout: `UPDATE tasks SET status = 'timeout', error_details = ${TIMEOUT_DETAILS}, ${TERMINAL_SET}
    WHERE ${pick(PAST_DEADLINE, 'deadline_at')} RETURNING id, status`,
  // running → cancelled: cancel requested and the holder never answered before its lease ran out.
  cancelLost: `UPDATE tasks SET status = 'cancelled', ${TERMINAL_SET}
    WHERE ${pick(`${EXPIRED} AND cancel_requested_at IS NOT NULL`, 'lease_expires_at')} RETURNING id, status`,
  // running → pending: the holder stopped heartbeating and attempts remain.
  requeueLost: `UPDATE tasks SET ${REQUEUE_SET}
    WHERE ${pick(`${EXPIRED} AND cancel_requested_at IS NULL AND attempt - releases < max_attempts`, 'lease_expires_at')}
    RETURNING id, status`,
  // running → failed: the holder was lost and no attempts remain.
  failLost: `UPDATE tasks SET status = 'failed',
      error_details = jsonb_build_object('reason', 'worker lost',
        'message', 'Worker ' || worker_id || ' stopped heartbeating; lease expired on attempt ' || attempt || ' of ' || max_attempts),
      ${TERMINAL_SET}
    WHERE ${pick(`${EXPIRED} AND cancel_requested_at IS NULL AND attempt - releases >= max_attempts`, 'lease_expires_at')}
    RETURNING id, status`,
} as const;
