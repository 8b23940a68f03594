/**
 * The feed's SQL: pages of feed_events in cursor order, each with the fields of its task that
 * subscribers filter on. Only rows whose transaction is older than every running transaction
 * are returned (migration 0011), so a page never lets a later, concurrent commit fall behind a
 * cursor already handed out.
 */
import { fromStoredJson } from '../db/text-codec.ts';
import type { Queryable } from '../db/types.ts';
import { type Cursor, formatCursor } from './cursor.ts';

export type FeedKind = 'task.status' | 'group.completed' | 'reward.updated';
export const FEED_KINDS: readonly FeedKind[] = ['task.status', 'group.completed', 'reward.updated'];

export interface FeedEvent {
  cursor: Cursor;
  /** The cursor as the client sees it (`<txid>-<id>`). */
  cursorText: string;
  kind: FeedKind;
  task_id: string | null;
  experiment_id: string | null;
  group_id: string | null;
  /** task.status: the new status and the one before (null for a new task). */
  status: string | null;
  previous_status: string | null;
  reward_id: number | null;
  at: string;
  /** The task's fields as they are when the page is read (a group's: any one of its tasks). */
  problem_id: string | null;
  backend_type: string | null;
  worker_id: string | null;
  attempt: number | null;
  policy_version: number | null;
  labels: Record<string, string>;
  model: string | null;
}

export interface PageScope {
  experimentId?: string;
  groupId?: string;
  taskId?: string;
}

const PAGE_SQL = (where: string) => `
SELECT e.id::text AS id, e.txid::text AS txid, e.kind, e.task_id, e.experiment_id, e.group_id,
       e.status, e.previous_status, e.reward_id, e.created_at,
       t.problem_id, t.backend_type, t.worker_id, t.attempt, t.policy_version,
       t.parameters -> 'labels' AS labels, t.parameters -> 'agent_config' ->> 'model' AS model
FROM feed_events e
LEFT JOIN tasks t ON t.id = COALESCE(e.task_id, (SELECT g.id FROM tasks g WHERE g.group_id = e.group_id LIMIT 1))
WHERE (e.txid, e.id) > ($1::xid8, $2::bigint) AND e.txid < feed_horizon() ${where}
ORDER BY e.txid, e.id
LIMIT $3`;

type Row = Record<string, unknown>;

function toEvent(r: Row): FeedEvent {
  const cursor = { txid: BigInt(r.txid as string), id: BigInt(r.id as string) };
  const at = r.created_at instanceof Date ? r.created_at : new Date(String(r.created_at));
  return {
    cursor,
    cursorText: formatCursor(cursor),
    kind: r.kind as FeedKind,
    task_id: (r.task_id as string | null) ?? null,
    experiment_id: (r.experiment_id as string | null) ?? null,
    group_id: (r.group_id as string | null) ?? null,
    status: (r.status as string | null) ?? null,
    previous_status: (r.previous_status as string | null) ?? null,
    reward_id: r.reward_id == null ? null : Number(r.reward_id),
    at: at.toISOString(),
    problem_id: (r.problem_id as string | null) ?? null,
    backend_type: (r.backend_type as string | null) ?? null,
    worker_id: (r.worker_id as string | null) ?? null,
    attempt: r.attempt == null ? null : Number(r.attempt),
    policy_version: r.policy_version == null ? null : Number(r.policy_version),
    labels: (fromStoredJson((r.labels ?? null) as Record<string, string> | null) ?? {}) as Record<
      string,
      string
    >,
    model: (r.model as string | null) ?? null,
  };
}

/** Up to `limit` final events after `after`, in cursor order, narrowed by the indexed scopes. */
export async function readFeedPage(
  db: Queryable,
  after: Cursor,
  limit: number,
  scope: PageScope = {},
): Promise<FeedEvent[]> {
  const params: unknown[] = [after.txid.toString(), after.id.toString(), limit];
  const where: string[] = [];
  if (scope.experimentId) {
    params.push(scope.experimentId);
    where.push(`AND e.experiment_id = $${params.length}::uuid`);
  }
  if (scope.groupId) {
    params.push(scope.groupId);
    where.push(`AND e.group_id = $${params.length}::uuid`);
  }
  if (scope.taskId) {
    params.push(scope.taskId);
    where.push(`AND e.task_id = $${params.length}::uuid`);
  }
  const { rows } = await db.query<Row>(PAGE_SQL(where.join(' ')), params);
  return rows.map(toEvent);
}

/**
 * The cursor of the newest final event ("now"): a stream that starts here sees everything that
 * becomes final later, including commits already under way.
 */
export async function feedHead(db: Queryable): Promise<Cursor> {
  const { rows } = await db.query<Row>(
    // Ordered by the columns, qualified: a bare name would sort by the text alias ('99' > '800').
    `SELECT e.id::text AS id, e.txid::text AS txid FROM feed_events e
     WHERE e.txid < feed_horizon() ORDER BY e.txid DESC, e.id DESC LIMIT 1`,
  );
  const r = rows[0];
  return r ? { txid: BigInt(r.txid as string), id: BigInt(r.id as string) } : { txid: 0n, id: 0n };
}

/** The oldest event still kept (retention prunes by age), so a stale cursor can be told so. */
export async function feedTail(db: Queryable): Promise<Cursor | null> {
  const { rows } = await db.query<Row>(
    'SELECT e.id::text AS id, e.txid::text AS txid FROM feed_events e ORDER BY e.txid, e.id LIMIT 1',
  );
  const r = rows[0];
  return r ? { txid: BigInt(r.txid as string), id: BigInt(r.id as string) } : null;
}
