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
 * A cancel request is final: whatever the holder reports after it (complete, fail, release)
 * ends the task `cancelled`, keeping the reported result or error for the record. The user
 * asked for the work to stop; a worker that ignores cancel_task_ids (the predecessor's client
 * does) cannot turn that into `completed`.
 *
 * Each transition also writes the server's own task log entry (source 'server': created,
 * claimed, completed, failed, cancelled, requeued, released, timed out) in the SAME statement,
 * as a data-modifying CTE: the log line commits with the change or not at all, and costs no
 * extra round trip (see SERVER_LOG).
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
import type { Task } from './types.ts';

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

/**
 * A CTE step writing one server log entry per row of the CTE `from` (which must return the
 * task columns id and attempt). level, message and context are SQL over that row; messages
 * use format(), which reads a NULL as '' where `||` would make the whole message NULL and
 * refuse the transition with it. One multi-row INSERT in the transition's own statement: no
 * extra round trip. Measured one task at a time on a shared 2-core machine, PGlite: claim
 * 0.85 → 0.96 ms, complete 1.05 → 1.2 ms; local PostgreSQL: claim 1.02 → 1.18 ms, complete
 * 0.78 → 1.0 ms (mostly planning the larger statement). The in-process pool's batched
 * claim+complete (64 at a time): 0.13 → 0.17 ms a task on PGlite, 0.08 → 0.10 ms on PostgreSQL.
 */
export const SERVER_LOG = (from: string, level: string, message: string, context: string) => `
  INSERT INTO task_logs (task_id, attempt, level, message, context, source)
  SELECT ${from}.id, ${from}.attempt, ${level}, ${message}, ${context}, 'server' FROM ${from}`;

/**
 * The context of a server entry: `event` (a name, or SQL choosing one when one statement can
 * end two ways) and the fields given (SQL expressions).
 */
const logContext = (event: string, fields: Record<string, string> = {}) =>
  `jsonb_build_object('event', ${/^[a-z_]+$/.test(event) ? `'${event}'` : event}${Object.entries(fields)
    .map(([k, v]) => `, '${k}', ${v}`)
    .join('')})`;

/** The holder of the current attempt: the fence every worker report must pass. */
const HELD_BY = (worker: string, attempt: string) =>
  `tasks.status = 'running' AND tasks.worker_id = ${worker} AND (${attempt}::int IS NULL OR tasks.attempt = ${attempt}::int)`;

// Claim (pending → running) is the function claim_tasks() in db/migrations/0001_init.sql:
// a function so that it can pin its planner settings (see the comment there). One call, one
// statement: it records the worker's liveness, takes its row lock (so max_parallel_tasks holds
// under concurrent claims by one worker), then reads tasks_claim_idx in (priority DESC, seq)
// order with SKIP LOCKED and stops at the worker's free slots.
//
// With a claim key, a retry of a claim whose response was lost gets what that claim handed
// out (`again`) instead of more tasks: the same statement reads them first, and when there are
// any the claim itself never runs (its NOT EXISTS is a one-time filter, checked before the
// function scan). One round trip either way.
const CLAIM_SQL = `WITH again AS (
  SELECT * FROM tasks
  WHERE $4::text IS NOT NULL AND worker_id = $1 AND status = 'running' AND claim_key = $4
), claimed AS (SELECT * FROM claim_tasks($1, $2, $3, $4) WHERE NOT EXISTS (SELECT 1 FROM again)),
logged AS (${SERVER_LOG(
  'claimed',
  `'info'`,
  `format('Claimed by worker %s (attempt %s of %s)', claimed.worker_id, claimed.attempt, claimed.max_attempts)`,
  logContext('claimed', { worker_id: 'claimed.worker_id', attempt: 'claimed.attempt' }),
)})
SELECT *, true AS fresh FROM claimed UNION ALL SELECT *, false AS fresh FROM again`;

/**
 * Claims up to `max` tasks for the worker; `fresh` is false on rows an earlier claim with
 * the same key handed out (a retried claim), which are returned instead.
 */
export async function claim(
  db: Queryable,
  workerId: string,
  max: number,
  leaseSeconds: number,
  claimKey: string | null = null,
): Promise<Array<Row & { fresh: boolean }>> {
  const { rows } = await db.query<Row & { fresh: boolean }>(
    CLAIM_SQL,
    [workerId, max, leaseSeconds, claimKey],
    {
      prepared: 'queue_claim',
    },
  );
  // UPDATE … FROM returns rows in no defined order; hand them out in claim order.
  return rows.sort(
    (a, b) => (b.priority as number) - (a.priority as number) || Number(a.seq) - Number(b.seq),
  );
}

/** What the fence reads of each task a batch of reports names (one indexed read for all). */
export async function fenceRows(
  db: Queryable,
  taskIds: readonly string[],
): Promise<Array<{ id: string; status: Task['status']; worker_id: string | null; attempt: number }>> {
  const { rows } = await db.query<{
    id: string;
    status: Task['status'];
    worker_id: string | null;
    attempt: number;
  }>('SELECT id, status, worker_id, attempt FROM tasks WHERE id = ANY($1::uuid[])', [taskIds], {
    prepared: 'queue_fence_rows',
  });
  return rows;
}

export interface Completion {
  task_id: string;
  worker_id: string;
  attempt: number | null;
  result: unknown;
}

/** What a report arriving after a cancel request records: the task ends cancelled, the report is kept. */
const CANCELLED_AFTER_REPORT = (what: string) => `jsonb_build_object('reason', 'cancelled',
  'message', format('Cancelled: the cancel was requested before worker %s reported ${what}; the report is kept', tasks.worker_id))`;

// Complete (running → completed, or cancelled when a cancel was requested), fenced by holder
// and attempt. Takes many completions in one statement so in-process workers can flush a
// burst of finished tasks in one commit; rows that fail the fence are simply not returned.
// A completed task carries no error (one from an earlier, retried attempt is in its log).
export async function complete(db: Queryable, items: readonly Completion[]): Promise<Row[]> {
  const { rows } = await db.query<Row>(
    `WITH done AS (
       UPDATE tasks SET result = u.result::jsonb, ${TERMINAL_SET},
         status = CASE WHEN tasks.cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'completed' END,
         error_details = CASE WHEN tasks.cancel_requested_at IS NOT NULL
           THEN ${CANCELLED_AFTER_REPORT('completion')} END
       FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[]) AS u(id, worker_id, attempt, result)
       WHERE tasks.id = u.id AND ${HELD_BY('u.worker_id', 'u.attempt')}
       RETURNING tasks.*
     ), logged AS (${SERVER_LOG(
       'done',
       `CASE WHEN done.status = 'completed' THEN 'info' ELSE 'warning' END`,
       `CASE WHEN done.status = 'completed'
          THEN format('Completed (reported by worker %s, attempt %s)', done.worker_id, done.attempt)
          ELSE format('Cancelled: worker %s reported completion after the cancel request (its result is kept)', done.worker_id) END`,
       logContext(`CASE WHEN done.status = 'completed' THEN 'completed' ELSE 'cancelled' END`, {
         worker_id: 'done.worker_id',
         attempt: 'done.attempt',
       }),
     )})
     SELECT * FROM done`,
    [
      items.map((i) => i.task_id),
      items.map((i) => i.worker_id),
      items.map((i) => i.attempt),
      items.map((i) => toStoredJson(i.result ?? null)),
    ],
    { prepared: 'queue_complete' },
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
    `WITH ended AS (
       UPDATE tasks SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'failed' END,
         error_details = $4::jsonb, ${TERMINAL_SET}
       WHERE id = $1 AND ${HELD_BY('$2', '$3')}
       RETURNING *
     ), logged AS (${SERVER_LOG(
       'ended',
       `CASE WHEN ended.status = 'failed' THEN 'error' ELSE 'info' END`,
       `CASE WHEN ended.status = 'failed'
          THEN format('Failed (reported by worker %s, attempt %s)', ended.worker_id, ended.attempt)
          ELSE format('Cancelled (worker %s stopped after the cancel request)', ended.worker_id) END`,
       logContext(`CASE WHEN ended.status = 'failed' THEN 'failed' ELSE 'cancelled' END`, {
         worker_id: 'ended.worker_id',
         attempt: 'ended.attempt',
         reason: `ended.error_details ->> 'reason'`,
       }),
     )})
     SELECT * FROM ended`,
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
    `WITH requeued AS (
       UPDATE tasks SET ${REQUEUE_SET}, error_details = $4::jsonb
       WHERE id = $1 AND ${HELD_BY('$2', '$3')}
         AND cancel_requested_at IS NULL AND attempt - releases < max_attempts
       RETURNING *
     ), logged AS (${SERVER_LOG(
       'requeued',
       `'warning'`,
       `format('Requeued: worker %s reported a retryable failure on attempt %s of %s', $2::text, requeued.attempt, requeued.max_attempts)`,
       logContext('requeued', {
         worker_id: '$2::text',
         attempt: 'requeued.attempt',
         reason: `requeued.error_details ->> 'reason'`,
       }),
     )})
     SELECT * FROM requeued`,
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
     ), changed AS (SELECT * FROM expired UNION ALL SELECT * FROM released),
     logged AS (${SERVER_LOG(
       'changed',
       `CASE WHEN changed.status = 'timeout' THEN 'warning' ELSE 'info' END`,
       `CASE WHEN changed.status = 'timeout'
          THEN format('Timed out: worker %s gave it back after its deadline', $2::text)
          ELSE format('Released by worker %s (shutting down); attempt %s is not charged, back in the queue', $2::text, changed.attempt) END`,
       logContext(`CASE WHEN changed.status = 'timeout' THEN 'timed_out' ELSE 'released' END`, {
         worker_id: '$2::text',
         attempt: 'changed.attempt',
       }),
     )})
     SELECT * FROM changed`,
    [taskId, workerId, attempt],
  );
  return rows[0];
}

// Cancel (pending → cancelled) takes effect at once. `which`: the rows it may touch, by id or
// by experiment (an experiment's cancel is one statement over its rows, through the same SQL).
type CancelScope = 'id' | 'experiment_id';
const CANCEL_PENDING_SQL = (which: CancelScope) => `WITH cancelled AS (
       UPDATE tasks SET status = 'cancelled', cancel_requested_at = now(), ${TERMINAL_SET}
       WHERE ${which} = $1 AND status = 'pending' RETURNING *
     ), logged AS (${SERVER_LOG('cancelled', `'info'`, `'Cancelled while pending'`, logContext('cancelled'))})
     SELECT * FROM cancelled`;

// Cancel of a running task only records the request; the holder stops and reports, or the
// reaper ends the task cancelled when the lease runs out. Only the first request is logged:
// its cancel_requested_at is this transaction's now().
const REQUEST_CANCEL_SQL = (which: CancelScope) => `WITH requested AS (
       UPDATE tasks SET cancel_requested_at = COALESCE(cancel_requested_at, now()), updated_at = now()
       WHERE ${which} = $1 AND status = 'running' RETURNING *
     ), fresh AS (SELECT * FROM requested WHERE cancel_requested_at = now()),
     logged AS (${SERVER_LOG(
       'fresh',
       `'info'`,
       `format('Cancel requested: worker %s is told to stop (attempt %s)', fresh.worker_id, fresh.attempt)`,
       logContext('cancel_requested', { worker_id: 'fresh.worker_id', attempt: 'fresh.attempt' }),
     )})
     SELECT * FROM requested`;

export async function cancelPending(db: Queryable, taskId: string): Promise<Row | undefined> {
  const { rows } = await db.query<Row>(CANCEL_PENDING_SQL('id'), [taskId]);
  return rows[0];
}

export async function requestCancel(db: Queryable, taskId: string): Promise<Row | undefined> {
  const { rows } = await db.query<Row>(REQUEST_CANCEL_SQL('id'), [taskId]);
  return rows[0];
}

/** Every pending task of the experiment ends cancelled (tasks_experiment_idx finds them). */
export async function cancelPendingOfExperiment(db: Queryable, experimentId: string): Promise<Row[]> {
  return (await db.query<Row>(CANCEL_PENDING_SQL('experiment_id'), [experimentId])).rows;
}

/** Every running task of the experiment is asked to stop. */
export async function requestCancelOfExperiment(db: Queryable, experimentId: string): Promise<Row[]> {
  return (await db.query<Row>(REQUEST_CANCEL_SQL('experiment_id'), [experimentId])).rows;
}

/**
 * Statements of one reaper pass; each picks at most `limit` rows with SKIP LOCKED, re-checks
 * its guard, and logs what it did. The picked rows keep the worker that lost them (`lost`),
 * since the requeue clears worker_id on the row itself.
 */
const EXPIRED = `status = 'running' AND lease_expires_at < now()`;
const PAST_DEADLINE = `status = 'running' AND deadline_at < now()`;
const reap = (
  set: string,
  guard: string,
  order: string,
  log: [level: string, message: string, event: string],
) =>
  `WITH reaped AS (
     UPDATE tasks SET ${set}
     FROM (SELECT id, worker_id FROM tasks WHERE ${guard} ORDER BY ${order} LIMIT $1 FOR UPDATE SKIP LOCKED) lost
     WHERE tasks.id = lost.id AND ${guard}
     RETURNING tasks.id, tasks.status, tasks.attempt, tasks.max_attempts, lost.worker_id AS lost_worker
   ), logged AS (${SERVER_LOG(
     'reaped',
     log[0],
     log[1],
     logContext(log[2], { worker_id: 'reaped.lost_worker', attempt: 'reaped.attempt' }),
   )})
   SELECT id, status FROM reaped`;

export const reapStatements = {
  // running → timeout: past its deadline, whoever holds it.
  timeout: reap(
    `status = 'timeout', error_details = ${TIMEOUT_DETAILS}, ${TERMINAL_SET}`,
    PAST_DEADLINE,
    'deadline_at',
    [
      `'warning'`,
      `format('Timed out: the deadline passed while worker %s ran attempt %s', reaped.lost_worker, reaped.attempt)`,
      'timed_out',
    ],
  ),
  // running → cancelled: cancel requested and the holder never answered before its lease ran out.
  cancelLost: reap(
    `status = 'cancelled', ${TERMINAL_SET}`,
    `${EXPIRED} AND cancel_requested_at IS NOT NULL`,
    'lease_expires_at',
    [
      `'warning'`,
      `format('Cancelled: worker %s did not stop and report before its lease expired', reaped.lost_worker)`,
      'cancelled',
    ],
  ),
  // running → pending: the holder stopped heartbeating and attempts remain.
  requeueLost: reap(
    REQUEUE_SET,
    `${EXPIRED} AND cancel_requested_at IS NULL AND attempt - releases < max_attempts`,
    'lease_expires_at',
    [
      `'warning'`,
      `format('Requeued: worker %s stopped heartbeating; lease expired on attempt %s of %s', reaped.lost_worker, reaped.attempt, reaped.max_attempts)`,
      'requeued',
    ],
  ),
  // running → failed: the holder was lost and no attempts remain.
  failLost: reap(
    `status = 'failed',
      error_details = jsonb_build_object('reason', 'worker lost',
        'message', 'Worker ' || tasks.worker_id || ' stopped heartbeating; lease expired on attempt ' || tasks.attempt || ' of ' || tasks.max_attempts),
      ${TERMINAL_SET}`,
    `${EXPIRED} AND cancel_requested_at IS NULL AND attempt - releases >= max_attempts`,
    'lease_expires_at',
    [
      `'error'`,
      `format('Failed: worker %s stopped heartbeating on the last attempt (%s of %s)', reaped.lost_worker, reaped.attempt, reaped.max_attempts)`,
      'worker_lost',
    ],
  ),
} as const;
