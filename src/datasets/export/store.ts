/**
 * The export's SQL: finished tasks in the order of their finish cursor, and, for a page of them
 * at once, everything a trajectory record holds (conversations, messages, calls with their token
 * ids and logprobs, logs, rewards). A page costs six queries whatever its size, so throughput
 * does not hang on round trips; its size bounds memory.
 */
import type { Queryable } from '../../db/types.ts';
import type { Cursor } from '../cursor.ts';
import { type ExportFilter, filterClauses, TERMINAL_STATUSES } from './filter.ts';

export type Row = Record<string, unknown>;

export interface ExportRange {
  /** Exclusive. */
  after: Cursor;
  /** Inclusive: an export is a fixed snapshot even while tasks keep finishing. */
  until: Cursor;
}

/** Written out, not a parameter, so the planner sees it matches feed_events_finished_idx (0012). */
const FINISH_EVENT = `e.kind = 'task.status' AND e.status IN (${TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ')})`;

const FINISHED = (where: string) => `
FROM feed_events e JOIN tasks t ON t.id = e.task_id
WHERE ${FINISH_EVENT}
  AND (e.txid, e.id) > ($1::xid8, $2::bigint) AND (e.txid, e.id) <= ($3::xid8, $4::bigint)
  AND t.attempt > 0 ${where}`;

function rangeParams(range: ExportRange): unknown[] {
  return [
    range.after.txid.toString(),
    range.after.id.toString(),
    range.until.txid.toString(),
    range.until.id.toString(),
  ];
}

/** The next `limit` finished tasks after `range.after`, with their finish cursor. */
export async function readFinishedTasks(
  db: Queryable,
  filter: ExportFilter,
  range: ExportRange,
  limit: number,
): Promise<Row[]> {
  const params = rangeParams(range);
  const where = filterClauses(filter, params);
  params.push(limit);
  const { rows } = await db.query<Row>(
    `SELECT e.txid::text AS event_txid, e.id::text AS event_id, t.* ${FINISHED(where)}
     ORDER BY e.txid, e.id LIMIT $${params.length}`,
    params,
  );
  return rows;
}

/** How many finished tasks the export covers (before any reward bound), for progress. */
export async function countFinishedTasks(
  db: Queryable,
  filter: ExportFilter,
  range: ExportRange,
): Promise<number> {
  const params = rangeParams(range);
  const where = filterClauses(filter, params);
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n ${FINISHED(where)}`, params);
  return rows[0]?.n ?? 0;
}

export interface PageDetails {
  conversations: Row[];
  messages: Row[];
  calls: Row[];
  logs: Row[];
  rewards: Row[];
}

/**
 * Everything the records of these tasks need, each list in its order. Calls carry only what a
 * record keeps of the upstream's response: the token ids of the prompt and of the first choice,
 * and that choice's sampled-token logprobs (not the top-k alternatives, nor the reply text,
 * which is already a message). Those come from the columns the recorder fills (migration 0013),
 * packed (db/packed-numbers.ts), so the `response` document is never read (nor detoasted) and
 * the server copies the numbers out instead of printing each one as text.
 */
export async function readPageDetails(db: Queryable, taskIds: readonly string[]): Promise<PageDetails> {
  const ids = [...taskIds];
  const conversations = (
    await db.query<Row>(
      `SELECT id, task_id, attempt, conversation_key, model_name, started_at, ended_at,
              prompt_tokens, completion_tokens, total_tokens, cost
       FROM llm_conversations WHERE task_id = ANY($1::uuid[]) ORDER BY seq`,
      [ids],
    )
  ).rows;
  const conversationIds = conversations.map((c) => c.id as string);
  const [messages, calls, logs, rewards] = await Promise.all([
    db.query<Row>(
      `SELECT conversation_id, seq, parent_seq, role, content, tool_calls, tool_call_id, name
       FROM llm_messages WHERE conversation_id = ANY($1::uuid[]) ORDER BY conversation_id, seq`,
      [conversationIds],
    ),
    db.query<Row>(
      `SELECT conversation_id, seq, model_requested, model, upstream, request, prompt_last_seq,
              reply_seq, prefix_consistent, finish_reasons, end_reason, status, error, usage,
              prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost, latency_ms,
              ttft_ms, policy_version, started_at, completed_at,
              prompt_token_ids, completion_token_ids, completion_logprobs
       FROM llm_calls WHERE conversation_id = ANY($1::uuid[]) ORDER BY conversation_id, seq`,
      [conversationIds],
    ),
    db.query<Row>(
      `SELECT task_id, attempt, timestamp, level, message, context, source
       FROM task_logs WHERE task_id = ANY($1::uuid[]) AND attempt > 0 ORDER BY task_id, id`,
      [ids],
    ),
    db.query<Row>(
      `SELECT task_id, name, value, details, written_by, created_at
       FROM task_rewards WHERE task_id = ANY($1::uuid[]) ORDER BY task_id, id`,
      [ids],
    ),
  ]);
  return {
    conversations,
    messages: messages.rows,
    calls: calls.rows,
    logs: logs.rows,
    rewards: rewards.rows,
  };
}
