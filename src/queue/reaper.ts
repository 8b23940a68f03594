/**
 * One reaper pass: deadlines, lost leases, silent workers. Several API replicas may run it;
 * a transaction-scoped advisory lock lets exactly one do a pass at a time (the others skip
 * theirs). Each statement re-checks its guard on the row it updates, so a task completed
 * between the scan and the update is never touched.
 */
import type { Queue } from './queue.ts';
import type { Row } from './rows.ts';
import { reapStatements } from './transitions.ts';
import type { ReapResult } from './types.ts';
import { markStaleWorkersOffline } from './workers.ts';

const REAPER_LOCK = 7_413_002;
const BATCH = 500;

export async function reapOnce(queue: Queue, heartbeatTimeoutSeconds: number): Promise<ReapResult | null> {
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
    out.workers_offline = await markStaleWorkersOffline(q, heartbeatTimeoutSeconds);
    return { out, timedOut: timedOut.map((r) => r.id as string) };
  });
  if (!result) return null;
  // After commit: stop whoever still runs a timed-out task, wake claimers for requeued work.
  for (const id of result.timedOut) queue.notifier.cancelRequested(id);
  if (result.out.requeued > 0) queue.notifier.wake();
  queue.emitTerminal(result.out.terminal);
  return result.out;
}
