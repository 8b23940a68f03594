/**
 * An export as a stream of trajectory records: pages of finished tasks in finish-cursor order,
 * each page read in six queries and shaped into records. Memory holds one page at a time; the
 * consumer's pace (it awaits each record) is the producer's pace.
 */
import type { Queryable } from '../../db/types.ts';
import { type Cursor, START } from '../cursor.ts';
import { feedHead } from '../feed-store.ts';
import { assembleRecords } from './assemble.ts';
import type { ExportFilter } from './filter.ts';
import type { TrajectoryRecord } from './record.ts';
import {
  countFinishedTasks,
  type ExportRange,
  type PageDetails,
  type Row,
  readFinishedTasks,
  readPageDetails,
} from './store.ts';

/**
 * Tasks read per page: enough to amortise six round trips (under a millisecond a task), few
 * enough to bound memory. A token-heavy trajectory (tens of thousands of prompt ids over its
 * calls) is megabytes once parsed; 32 a page held a quarter of a gigabyte of live heap.
 */
export const EXPORT_PAGE_TASKS = 8;

/** The range an export covers: after the given cursor, up to the feed's head unless bounded. */
export async function exportRange(db: Queryable, after?: Cursor, until?: Cursor): Promise<ExportRange> {
  return { after: after ?? START, until: until ?? (await feedHead(db)) };
}

export { countFinishedTasks as countExportTasks };

function rewardOf(record: TrajectoryRecord, name: string | undefined): number | null {
  if (!name) return record.reward;
  return Object.hasOwn(record.rewards, name) ? (record.rewards[name] ?? null) : null;
}

/** True when the record's reward lies within the filter's bounds (none set: always). */
export function withinRewardBounds(record: TrajectoryRecord, f: ExportFilter): boolean {
  if (f.min_reward === undefined && f.max_reward === undefined) return true;
  const r = rewardOf(record, f.reward_name);
  if (r === null) return false;
  return (
    (f.min_reward === undefined || r >= f.min_reward) && (f.max_reward === undefined || r <= f.max_reward)
  );
}

interface Page {
  tasks: Row[];
  details: PageDetails;
}

async function readPage(
  db: Queryable,
  filter: ExportFilter,
  range: ExportRange,
  pageTasks: number,
): Promise<Page> {
  const tasks = await readFinishedTasks(db, filter, range, pageTasks);
  const details = await readPageDetails(
    db,
    tasks.map((t) => t.id as string),
  );
  return { tasks, details };
}

/**
 * The records in order. The next page is read while this one's records are encoded and sent:
 * the database and this process work at once instead of taking turns (two pages in memory).
 */
export async function* readTrajectories(
  db: Queryable,
  filter: ExportFilter,
  range: ExportRange,
  pageTasks = EXPORT_PAGE_TASKS,
): AsyncGenerator<TrajectoryRecord> {
  let next: Promise<Page> | null = readPage(db, filter, range, pageTasks);
  while (next) {
    const page: Page = await next;
    next = null;
    if (page.tasks.length === pageTasks) {
      const last = page.tasks[pageTasks - 1]!;
      const after = { txid: BigInt(last.event_txid as string), id: BigInt(last.event_id as string) };
      next = readPage(db, filter, { after, until: range.until }, pageTasks);
      // Awaited in its turn; a consumer that stops early must not leave it unhandled.
      next.catch(() => {});
    }
    for (const record of assembleRecords(page.tasks, page.details, { attempts: filter.attempts ?? 'all' }))
      if (withinRewardBounds(record, filter)) yield record;
  }
}
