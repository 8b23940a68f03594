/**
 * History upkeep, every UPKEEP_INTERVAL_SECONDS: prunes spent counter rows and, with
 * RETENTION_DAYS set, deletes finished tasks that ended longer ago than that, with their logs
 * and LLM records. Deletion goes in small batches, each its own short transaction, with a pause
 * between them, so claims and reports never queue behind it. Several replicas may run it: a
 * batch re-checks its rows, so the worst case is wasted work, never a wrong delete.
 */
import type { Db } from '../db/types.ts';
import {
  deleteChildBatch,
  deleteFeedBatch,
  deleteSpentGroups,
  deleteTasks,
  expiredTaskIds,
  pruneCounters,
  type UpkeepResult,
} from '../queue/retention.ts';
import { PeriodicPass } from './periodic-pass.ts';

export interface UpkeepOptions {
  retentionDays: number;
  /** Tasks per batch; their children go in chunks of childBatch rows. */
  taskBatch?: number;
  childBatch?: number;
  /** Pause between batches, so a long backlog of deletions yields to the queue. */
  pauseMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One full pass: prune, then delete expired tasks batch by batch until none is left (or stopped). */
export async function upkeepOnce(
  db: Db,
  opts: UpkeepOptions,
  stopped: () => boolean = () => false,
): Promise<UpkeepResult> {
  const out: UpkeepResult = {
    counter_rows: 0,
    tasks: 0,
    logs: 0,
    llm_messages: 0,
    llm_calls: 0,
    feed_events: 0,
  };
  out.counter_rows = await pruneCounters(db);
  if (opts.retentionDays <= 0) return out;
  const taskBatch = opts.taskBatch ?? 200;
  const childBatch = opts.childBatch ?? 5000;
  while (!stopped()) {
    const ids = await expiredTaskIds(db, opts.retentionDays, taskBatch);
    if (ids.length === 0) break;
    out.logs += await drain((n) => deleteChildBatch(db, 'logs', ids, n), childBatch, stopped);
    out.llm_calls += await drain((n) => deleteChildBatch(db, 'llmCalls', ids, n), childBatch, stopped);
    out.llm_messages += await drain((n) => deleteChildBatch(db, 'llmMessages', ids, n), childBatch, stopped);
    if (stopped()) break;
    out.tasks += await deleteTasks(db, ids, opts.retentionDays);
    await sleep(opts.pauseMs ?? 20);
    if (ids.length < taskBatch) break;
  }
  if (!stopped()) {
    out.feed_events += await drain((n) => deleteFeedBatch(db, opts.retentionDays, n), childBatch, stopped);
    await deleteSpentGroups(db, opts.retentionDays);
  }
  return out;
}

async function drain(step: (limit: number) => Promise<number>, limit: number, stopped: () => boolean) {
  let total = 0;
  while (!stopped()) {
    const n = await step(limit);
    total += n;
    if (n < limit) break;
  }
  return total;
}

export function upkeepLoop(
  db: Db,
  intervalSeconds: number,
  opts: UpkeepOptions,
  onPass: (r: UpkeepResult) => void,
  onError: (err: unknown) => void,
): PeriodicPass {
  return new PeriodicPass(
    intervalSeconds,
    async (stopped) => onPass(await upkeepOnce(db, opts, stopped)),
    onError,
  );
}
