/**
 * Task activity minute by minute (claims, finishes by outcome, mean queue wait), read from the
 * per-minute counters the task triggers keep (task_activity, migration 0007): a bounded read
 * (minutes × stripes) however long the history is. The dashboard's throughput chart.
 */
import type { Queryable } from '../db/types.ts';
import type { Row } from './rows.ts';

export const ACTIVITY_WINDOWS = { '1h': 60, '6h': 360, '24h': 1440 } as const;
export type ActivityWindow = keyof typeof ACTIVITY_WINDOWS;

export interface ActivityMinute {
  /** Start of the minute. */
  minute: string;
  claims: number;
  completed: number;
  /** failed + timeout */
  failed: number;
  cancelled: number;
  /** Mean time the tasks claimed in this minute had waited; null without claims. */
  average_wait_seconds: number | null;
}

/** Every minute of the window, oldest first, with zeros where nothing happened. */
export async function activitySeries(db: Queryable, window: ActivityWindow): Promise<ActivityMinute[]> {
  const minutes = ACTIVITY_WINDOWS[window];
  const { rows } = await db.query<Row>(
    `SELECT m.minute, COALESCE(sum(a.claims), 0)::float8 AS claims,
            COALESCE(sum(a.wait_seconds), 0)::float8 AS wait, COALESCE(sum(a.completed), 0)::float8 AS completed,
            COALESCE(sum(a.failed), 0)::float8 AS failed, COALESCE(sum(a.cancelled), 0)::float8 AS cancelled
     FROM generate_series(date_trunc('minute', now()) - ($1::int - 1) * interval '1 minute',
                          date_trunc('minute', now()), interval '1 minute') AS m(minute)
     LEFT JOIN task_activity a ON a.bucket = m.minute
     GROUP BY m.minute ORDER BY m.minute`,
    [minutes],
  );
  return rows.map((r) => {
    const claims = Number(r.claims);
    return {
      minute: new Date(r.minute as string).toISOString(),
      claims,
      completed: Number(r.completed),
      failed: Number(r.failed),
      cancelled: Number(r.cancelled),
      average_wait_seconds: claims > 0 ? Number(r.wait) / claims : null,
    };
  });
}
