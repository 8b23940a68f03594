/** A cheap round trip for /health: proves the database answers and measures how fast. */
import type { Queryable } from '../db/types.ts';

/** Resolves with the round-trip time in milliseconds; rejects when the database cannot be reached. */
export async function pingDatabase(db: Queryable): Promise<number> {
  const started = performance.now();
  await db.query('SELECT 1');
  return performance.now() - started;
}
