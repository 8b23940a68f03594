/**
 * One reaper pass: deadlines, lost leases, silent workers. Several API replicas may run it;
 * a transaction-scoped advisory lock lets exactly one do a pass at a time (the others skip
 * theirs). Each statement re-checks its guard on the row it updates, so a task completed
 * between the scan and the update is never touched.
 */
import type { Queryable } from '../db/types.ts';
import type { Queue } from './queue.ts';
import type { Row } from './rows.ts';
import { reapStatements } from './transitions.ts';
import type { ReapResult } from './types.ts';
import { markStaleWorkersOffline } from './workers.ts';

const REAPER_LOCK = 7_413_002;
const BATCH = 500;
export interface ReapOptions {
  /**
   * A gap since the previous pass (of any replica) longer than this is an outage: the reaper
   * loop passes max(lease, 3 × its interval). Unset: gaps are recorded, never judged.
   */
  outageAfterSeconds?: number;
}

/**
 * Records this pass and says whether the previous one was an outage ago. Then no worker
 * could have heartbeated either, so every running lease gets one more lease period from now —
 * workers that finished or kept running during the outage report as usual — and this pass
 * reaps no lost lease.
 */
async function honourLeasesAfterOutage(
  q: Queryable,
  leaseSeconds: number,
  outageAfterSeconds: number | undefined,
): Promise<number> {
  const { rows } = await q.query<{ gap: number | null }>(
    `WITH prev AS (SELECT last_pass_at FROM reaper_state WHERE id = 1),
     upsert AS (INSERT INTO reaper_state (id, last_pass_at) VALUES (1, now())
                ON CONFLICT (id) DO UPDATE SET last_pass_at = now())
     SELECT extract(epoch FROM now() - (SELECT last_pass_at FROM prev))::float8 AS gap`,
  );
  const gap = rows[0]?.gap ?? null;
  if (gap === null || outageAfterSeconds === undefined || gap <= outageAfterSeconds) return 0;
  const r = await q.query(
    `UPDATE tasks SET lease_expires_at = now() + $1::int * interval '1 second'
     WHERE status = 'running' AND lease_expires_at < now() + $1::int * interval '1 second'`,
    [leaseSeconds],
  );
  return r.rowCount;
}

export async function reapOnce(
  queue: Queue,
  heartbeatTimeoutSeconds: number,
  options: ReapOptions = {},
): Promise<ReapResult | null> {
  const result = await queue.withTransaction(async (q) => {
    const { rows } = await q.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [
      REAPER_LOCK,
    ]);
    if (!rows[0]?.locked) return null;
    const out: ReapResult = {
      requeued: 0,
      failed: 0,
      cancelled: 0,
      timed_out: 0,
      workers_offline: 0,
      leases_honoured: await honourLeasesAfterOutage(q, queue.leaseSeconds, options.outageAfterSeconds),
      terminal: [],
    };
    const run = async (sql: string): Promise<Row[]> => {
      const all: Row[] = [];
      for (;;) {
        const r = await q.query<Row>(sql, [BATCH]);
        all.push(...r.rows);
        if (r.rows.length < BATCH) return all;
      }
    };
    // Workers before tasks: a claim locks its worker row and then (through the tasks
    // triggers) counter rows; taking the locks in that same order here cannot deadlock with it.
    out.workers_offline = await markStaleWorkersOffline(q, heartbeatTimeoutSeconds);
    // Deadlines first: a task both past its deadline and with a lost lease ended by time.
    const timedOut = await run(reapStatements.timeout);
    const cancelled = await run(reapStatements.cancelLost);
    const requeued = await run(reapStatements.requeueLost);
    const failed = await run(reapStatements.failLost);
    out.timed_out = timedOut.length;
    out.cancelled = cancelled.length;
    out.requeued = requeued.length;
    out.failed = failed.length;
    out.terminal = [...timedOut, ...cancelled, ...failed].map((r) => r.id as string);
    return { out, timedOut: timedOut.map((r) => r.id as string) };
  });
  if (!result) return null;
  // After commit: stop whoever still runs a timed-out task, wake claimers for requeued work.
  for (const id of result.timedOut) queue.notifier.cancelRequested(id);
  if (result.out.requeued > 0) queue.notifier.wake();
  queue.emitTerminal(result.out.terminal);
  return result.out;
}
