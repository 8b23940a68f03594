/** Callback delivery state, kept on the task row so a crash between terminal state and POST loses nothing. */
import type { Queryable } from '../db/types.ts';
import { type Row, toTask } from './rows.ts';
import type { Task } from './types.ts';

// Takes due deliveries and pushes their next_at forward by `leaseSeconds` first, so two
// replicas never deliver the same callback at once, and a delivery that died mid-way is
// picked up again after the lease.
export async function takeDueCallbacks(db: Queryable, limit: number, leaseSeconds: number): Promise<Task[]> {
  const { rows } = await db.query<Row>(
    `UPDATE tasks SET callback_next_at = now() + $2::int * interval '1 second'
     WHERE id IN (SELECT id FROM tasks WHERE callback_state = 'pending' AND callback_next_at <= now()
                  ORDER BY callback_next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [limit, leaseSeconds],
  );
  return rows.map(toTask);
}

/** Records one attempt: delivered, retry at retryAt, or given up (retryAt null and not delivered). */
export async function recordCallbackAttempt(
  db: Queryable,
  taskId: string,
  delivered: boolean,
  retryAt: Date | null,
): Promise<void> {
  await db.query(
    `UPDATE tasks SET callback_attempts = callback_attempts + 1,
       callback_state = CASE WHEN $2 THEN 'delivered' WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
       callback_next_at = CASE WHEN $2 THEN NULL ELSE $3::timestamptz END
     WHERE id = $1 AND callback_state = 'pending'`,
    [taskId, delivered, retryAt],
  );
}
