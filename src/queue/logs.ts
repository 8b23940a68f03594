/**
 * task_logs: append-only. Worker appends are fenced; the server's own entries are not (those
 * of transitions are written by the transition's statement, see transitions.ts SERVER_LOG;
 * callbacks append theirs here).
 */
import { encodeText, toStoredJson } from '../db/text-codec.ts';
import type { Queryable } from '../db/types.ts';
import { type Row, toLog } from './rows.ts';
import type { LogLevel, NewLog, TaskLog } from './types.ts';

// Messages and contexts go through the text codec: a NUL or a lone surrogate in a log line
// (binary-ish tool output) is stored and read back as written, never a refused batch.
const logArrays = (logs: readonly NewLog[], defaultSource: string) => [
  logs.map((l) => l.level),
  logs.map((l) => encodeText(l.message)),
  logs.map((l) => (l.context === undefined || l.context === null ? null : toStoredJson(l.context))),
  logs.map((l) => encodeText(l.source ?? defaultSource)),
  logs.map((l) => l.timestamp ?? null),
];

// The batch lands only while the caller holds the current attempt. FOR SHARE makes a
// concurrent complete/reap wait for this insert (or this insert see the new state), so no
// log line of a stale attempt is accepted after its task moved on.
const FENCED_APPEND_SQL = `
INSERT INTO task_logs (task_id, attempt, level, message, context, source, timestamp)
SELECT t.id, t.attempt, l.level, l.message, l.context::jsonb, l.source, COALESCE(l.ts, now())
FROM (SELECT id, attempt FROM tasks
      WHERE id = $1 AND status = 'running' AND worker_id = $2 AND ($3::int IS NULL OR attempt = $3::int)
      FOR SHARE) t,
     unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[]) WITH ORDINALITY
       AS l(level, message, context, source, ts, ord)
ORDER BY l.ord`;

/** Returns the number of rows written (0 = refused by the fence when logs were given). */
export async function appendFenced(
  db: Queryable,
  taskId: string,
  workerId: string,
  attempt: number | null,
  logs: readonly NewLog[],
): Promise<number> {
  const r = await db.query(FENCED_APPEND_SQL, [taskId, workerId, attempt, ...logArrays(logs, 'worker')]);
  return r.rowCount;
}

export async function appendSystem(db: Queryable, taskId: string, logs: readonly NewLog[]): Promise<void> {
  await db.query(
    `INSERT INTO task_logs (task_id, attempt, level, message, context, source, timestamp)
     SELECT $1, (SELECT attempt FROM tasks WHERE id = $1), l.level, l.message, l.context::jsonb, l.source, COALESCE(l.ts, now())
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) WITH ORDINALITY
       AS l(level, message, context, source, ts, ord)
     ORDER BY l.ord`,
    [taskId, ...logArrays(logs, 'server')],
  );
}

export interface LogQuery {
  levels?: readonly LogLevel[];
  /** Only entries from these sources (worker, server, callbacks…). */
  sources?: readonly string[];
  since?: string;
  /** Cursor: only entries with id greater than this. */
  after?: number;
  limit: number;
  /** newest = the last `limit` entries (seed behaviour: "recent logs"); oldest = from the cursor on. */
  order: 'newest' | 'oldest';
}

export async function readLogs(db: Queryable, taskId: string, q: LogQuery): Promise<TaskLog[]> {
  const params: unknown[] = [taskId];
  const where = ['task_id = $1'];
  if (q.levels?.length) {
    params.push(q.levels);
    where.push(`level = ANY($${params.length}::text[])`);
  }
  if (q.sources?.length) {
    params.push(q.sources);
    where.push(`source = ANY($${params.length}::text[])`);
  }
  if (q.since) {
    params.push(q.since);
    where.push(`timestamp >= $${params.length}::timestamptz`);
  }
  if (q.after !== undefined) {
    params.push(q.after);
    where.push(`id > $${params.length}`);
  }
  params.push(q.limit);
  const dir = q.order === 'newest' ? 'DESC' : 'ASC';
  const { rows } = await db.query<Row>(
    `SELECT * FROM task_logs WHERE ${where.join(' AND ')} ORDER BY id ${dir} LIMIT $${params.length}`,
    params,
  );
  const logs = rows.map(toLog);
  return q.order === 'newest' ? logs.reverse() : logs;
}

/**
 * The log tail's read: entries after (txid, id) in that order, only from transactions older
 * than every running one (the feed's rule, migration 0011), so a batch that commits late is
 * still delivered after a client's cursor has moved on. Rows from before 0011 have no txid
 * and count as the oldest.
 */
export async function readLogTail(
  db: Queryable,
  taskId: string,
  after: { txid: bigint; id: bigint },
  limit: number,
  levels?: readonly LogLevel[],
): Promise<Array<TaskLog & { txid: string }>> {
  const { rows } = await db.query<Row>(
    `SELECT *, COALESCE(txid, '0')::text AS txid_text FROM task_logs
     WHERE task_id = $1 AND (COALESCE(txid, '0'), id) > ($2::xid8, $3::bigint)
       AND COALESCE(txid, '0') < feed_horizon()
       AND ($5::text[] IS NULL OR level = ANY($5::text[]))
     ORDER BY COALESCE(txid, '0'), id LIMIT $4`,
    [taskId, after.txid.toString(), after.id.toString(), limit, levels?.length ? levels : null],
  );
  return rows.map((r) => ({ ...toLog(r), txid: r.txid_text as string }));
}

/**
 * The transaction horizon: `xmax`, every transaction id below it had started; `xmin`, every one
 * below it that could write here has ended (feed_horizon, migration 0011). The log tail waits for xmin to pass the xmax it saw when the task ended,
 * so its last read holds everything the finish (and any older open transaction) wrote.
 */
export async function transactionHorizon(db: Queryable): Promise<{ xmin: bigint; xmax: bigint }> {
  const { rows } = await db.query<{ xmin: string; xmax: string }>(
    `SELECT feed_horizon()::text AS xmin, pg_snapshot_xmax(pg_current_snapshot())::text AS xmax`,
  );
  return { xmin: BigInt(rows[0]!.xmin), xmax: BigInt(rows[0]!.xmax) };
}
