/**
 * History upkeep: the counter tables' housekeeping, and RETENTION_DAYS — finished tasks that
 * ended long enough ago are deleted with their logs and LLM records. Every statement touches a
 * bounded batch and commits on its own, so the queue's own statements never wait long on it.
 */
import type { Queryable } from '../db/types.ts';
import type { Row } from './rows.ts';

/** What one upkeep pass removed. */
export interface UpkeepResult {
  counter_rows: number;
  tasks: number;
  logs: number;
  llm_messages: number;
  llm_calls: number;
  /** Feed events (and finished groups with no task left) past the retention cutoff. */
  feed_events: number;
}

/** Minute buckets are kept this long (the longest stats window is 24 h). */
const ACTIVITY_KEEP = '2 days';

/** Drops spent counter rows: minute buckets past every window, and rows that sum to nothing. */
export async function pruneCounters(db: Queryable): Promise<number> {
  const buckets = await db.query(
    `DELETE FROM task_activity WHERE bucket > '-infinity' AND bucket < now() - interval '${ACTIVITY_KEEP}'`,
  );
  const workerBuckets = await db.query(
    `DELETE FROM worker_activity WHERE bucket < now() - interval '${ACTIVITY_KEEP}'`,
  );
  // A zero row may be re-created by the next transition; deleting it only keeps the table small.
  const counts = await db.query('DELETE FROM task_counts WHERE n = 0');
  const workers = await db.query('DELETE FROM worker_task_counts WHERE n = 0 AND run_seconds = 0');
  return buckets.rowCount + workerBuckets.rowCount + counts.rowCount + workers.rowCount;
}

/**
 * Up to `limit` finished tasks that ended before the cutoff, oldest first. Read over the
 * created_at index (a task ends after it is created), so no extra index is written on every
 * completion; the few old tasks still running are skipped by the filter.
 */
export async function expiredTaskIds(db: Queryable, days: number, limit: number): Promise<string[]> {
  const { rows } = await db.query<Row>(
    `SELECT id FROM tasks
     WHERE created_at < now() - $1::int * interval '1 day'
       AND status IN ('completed', 'failed', 'timeout', 'cancelled')
       AND completed_at < now() - $1::int * interval '1 day'
     ORDER BY created_at, seq LIMIT $2`,
    [days, limit],
  );
  return rows.map((r) => r.id as string);
}

/** Ids of a task's child rows, per table: logs directly, LLM records through their conversation. */
const CHILD_IDS = {
  logs: ['task_logs', 'SELECT id FROM task_logs WHERE task_id = ANY($1::uuid[])'],
  llmMessages: [
    'llm_messages',
    `SELECT m.id FROM llm_messages m JOIN llm_conversations c ON c.id = m.conversation_id
     WHERE c.task_id = ANY($1::uuid[])`,
  ],
  llmCalls: [
    'llm_calls',
    `SELECT k.id FROM llm_calls k JOIN llm_conversations c ON c.id = k.conversation_id
     WHERE c.task_id = ANY($1::uuid[])`,
  ],
} as const;

/** Deletes at most `limit` child rows of these tasks; returns how many went (0 = none left). */
export async function deleteChildBatch(
  db: Queryable,
  kind: keyof typeof CHILD_IDS,
  ids: string[],
  limit: number,
): Promise<number> {
  const [table, select] = CHILD_IDS[kind];
  const r = await db.query(`DELETE FROM ${table} WHERE id IN (${select} LIMIT $2)`, [ids, limit]);
  return r.rowCount;
}

/**
 * The tasks themselves (what is left of their children goes by cascade: conversations, the
 * odd row written meanwhile). Re-checks that each is still finished and old.
 */
export async function deleteTasks(db: Queryable, ids: string[], days: number): Promise<number> {
  const r = await db.query(
    `DELETE FROM tasks WHERE id = ANY($1::uuid[])
       AND status IN ('completed', 'failed', 'timeout', 'cancelled')
       AND completed_at < now() - $2::int * interval '1 day'`,
    [ids, days],
  );
  return r.rowCount;
}

/**
 * Feed events older than the cutoff, `limit` at a time, read in id order from the oldest (no
 * extra index: old events are the first ids). A client resuming from a cursor older than what
 * is left gets the events still kept; RETENTION_DAYS bounds how long a consumer may stay away.
 */
export async function deleteFeedBatch(db: Queryable, days: number, limit: number): Promise<number> {
  const r = await db.query(
    `DELETE FROM feed_events WHERE id IN (
       SELECT id FROM feed_events WHERE created_at < now() - $1::int * interval '1 day' ORDER BY id LIMIT $2)`,
    [days, limit],
  );
  return r.rowCount;
}

/** Completed groups whose tasks retention has deleted. */
export async function deleteSpentGroups(db: Queryable, days: number): Promise<number> {
  const r = await db.query(
    `DELETE FROM task_groups g WHERE g.completed_at < now() - $1::int * interval '1 day'
       AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.group_id = g.id)`,
    [days],
  );
  return r.rowCount;
}
