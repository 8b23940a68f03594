/**
 * The conversation store, read side: what the API serves from llm_conversations,
 * llm_messages and llm_calls. The recording side is recorder.ts.
 */
import { decodeText, fromStoredJson } from '../db/text-codec.ts';
import type { Queryable } from '../db/types.ts';

/** The Python task executor's cost breakdown of a conversation (its `total_cost` was this object). */
export interface CostBreakdown {
  input_tokens: number;
  output_tokens: number;
  /** USD; null when no call had a known price. */
  total_cost: number | null;
}

export interface Conversation {
  id: string;
  task_id: string | null;
  /** A UUID of its own per conversation (the key the agent chose is conversation_key). */
  session_id: string;
  model_name: string | null;
  model_config: unknown;
  /** model_config under the Python task executor's name. */
  llm_config: unknown;
  started_at: string;
  ended_at: string | null;
  message_count: number;
  /** message_count under the Python task executor's name. */
  total_messages: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost: number | null;
  /** cost as the Python task executor's object: tokens in and out, and the price. */
  total_cost: CostBreakdown;
  success: boolean | null;
  metadata: unknown;
  attempt: number | null;
  conversation_key: string | null;
  /** Its task's policy_version (null outside RL). */
  policy_version: number | null;
  call_count: number;
  cached_tokens: number;
  reasoning_tokens: number;
  unpriced_calls: number;
}

export interface Message {
  id: number;
  conversation_id: string;
  seq: number;
  role: string;
  content: unknown;
  tool_calls: unknown;
  tool_call_id: string | null;
  name: string | null;
  metadata: unknown;
  created_at: string;
  /** created_at under the Python task executor's name for a message's time. */
  timestamp: string;
  parent_seq: number | null;
  depth: number;
}

/** One recorded call, as the calls endpoint serves it (the response document included). */
export interface Call {
  id: number;
  conversation_id: string;
  task_id: string | null;
  attempt: number | null;
  seq: number;
  upstream: string;
  model_requested: string;
  model: string | null;
  stream: boolean;
  request: unknown;
  injected: unknown;
  prompt_message_count: number;
  prompt_last_seq: number | null;
  first_new_seq: number | null;
  reply_seq: number | null;
  prefix_consistent: boolean;
  diverged_at: number | null;
  response: unknown;
  finish_reasons: unknown;
  status: number | null;
  end_reason: string;
  error: string | null;
  usage: unknown;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  cached_tokens: number | null;
  reasoning_tokens: number | null;
  has_token_ids: boolean;
  has_logprobs: boolean;
  cost: number | null;
  /** The task's policy_version when the call was made. */
  policy_version: number | null;
  latency_ms: number | null;
  ttft_ms: number | null;
  started_at: string;
  completed_at: string;
}

export interface ConversationFilter {
  task_id?: string;
  model_name?: string;
  /** Inclusive bounds on the task's policy_version. */
  policy_version_min?: number;
  policy_version_max?: number;
  limit: number;
  offset: number;
}

export interface ConversationStats {
  total_conversations: number;
  /** Conversations per model (those with a model name), as the Python task executor counted them. */
  conversations_by_model: Record<string, number>;
  avg_messages_per_conversation: number;
  /** total_tokens under the Python task executor's name. */
  total_tokens_consumed: number;
  /** Conversations whose attempt completed its task. */
  successful_conversations: number;
  /** successful_conversations over all conversations, 0 when there are none (the Python executor's rule). */
  success_rate: number;
  total_messages: number;
  total_calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  total_cost: number;
  /** Calls with token usage but no known price: total_cost leaves them out. */
  unpriced_calls: number;
  success_ratio: number | null;
  by_model: {
    model_name: string | null;
    conversations: number;
    total_tokens: number;
    cost: number;
    unpriced_calls: number;
  }[];
}

type Row = Record<string, unknown>;
const iso = (v: unknown) => (v == null ? null : new Date(v as string | Date).toISOString());
const num = (v: unknown) => Number(v ?? 0);
const numOrNull = (v: unknown) => (v == null ? null : Number(v));

/**
 * The served conversation. Every field the Python task executor's clients read is here under
 * its name too (total_messages, llm_config, total_cost as its object, metadata.success), beside
 * ours, so both kinds of client read the same answer (issue 10).
 */
function toConversation(r: Row): Conversation {
  const modelConfig = fromStoredJson(r.model_config ?? {});
  const cost = r.cost == null ? null : Number(r.cost);
  const success = (r.outcome as boolean | null) ?? null;
  return {
    id: r.id as string,
    task_id: (r.task_id as string | null) ?? null,
    session_id: r.session_id as string,
    model_name: (r.model_name as string | null) ?? null,
    model_config: modelConfig,
    llm_config: modelConfig,
    started_at: iso(r.started_at)!,
    ended_at: iso(r.ended_at),
    message_count: num(r.message_count),
    total_messages: num(r.message_count),
    prompt_tokens: num(r.prompt_tokens),
    completion_tokens: num(r.completion_tokens),
    total_tokens: num(r.total_tokens),
    cost,
    total_cost: {
      input_tokens: num(r.prompt_tokens),
      output_tokens: num(r.completion_tokens),
      total_cost: cost,
    },
    success,
    metadata: withSuccess(fromStoredJson(r.metadata ?? {}), success),
    attempt: numOrNull(r.attempt),
    conversation_key: (r.conversation_key as string | null) ?? null,
    call_count: num(r.call_count),
    cached_tokens: num(r.cached_tokens),
    reasoning_tokens: num(r.reasoning_tokens),
    policy_version: numOrNull(r.policy_version),
    unpriced_calls: num(r.unpriced_calls),
  };
}

/**
 * The Python task executor wrote `success` into a conversation's metadata when it ended, and
 * its readers look there; ours is decided at read time, so it is added here once known (a
 * value stored under that key wins).
 */
function withSuccess(metadata: unknown, success: boolean | null): unknown {
  if (success === null || !metadata || typeof metadata !== 'object' || Array.isArray(metadata))
    return metadata;
  return 'success' in metadata ? metadata : { ...metadata, success };
}

function toMessage(r: Row): Message {
  return {
    id: num(r.id),
    conversation_id: r.conversation_id as string,
    seq: num(r.seq),
    // Stored through the text codec (db/text-codec.ts): read back exactly as the agent sent it.
    role: decodeText(r.role as string),
    content: fromStoredJson(r.content ?? null),
    tool_calls: fromStoredJson(r.tool_calls ?? null),
    tool_call_id: r.tool_call_id == null ? null : decodeText(r.tool_call_id as string),
    name: r.name == null ? null : decodeText(r.name as string),
    metadata: fromStoredJson(r.metadata ?? {}),
    created_at: iso(r.created_at)!,
    timestamp: iso(r.created_at)!,
    parent_seq: numOrNull(r.parent_seq),
    depth: num(r.depth),
  };
}

const CALL_NUMBERS = [
  'attempt',
  'prompt_last_seq',
  'first_new_seq',
  'reply_seq',
  'diverged_at',
  'status',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'cached_tokens',
  'reasoning_tokens',
  'cost',
  'latency_ms',
  'ttft_ms',
  'policy_version',
] as const;

/** The call's JSON columns, stored through the text codec. */
const CALL_DOCUMENTS = ['request', 'injected', 'response', 'finish_reasons', 'usage'] as const;

function toCall(r: Row): Call {
  const out = {
    ...r,
    id: num(r.id),
    seq: num(r.seq),
    prompt_message_count: num(r.prompt_message_count),
  } as Row;
  for (const k of CALL_NUMBERS) out[k] = numOrNull(r[k]);
  for (const k of CALL_DOCUMENTS) out[k] = fromStoredJson(r[k] ?? null);
  out.error = r.error == null ? null : decodeText(r.error as string);
  out.started_at = iso(r.started_at);
  out.completed_at = iso(r.completed_at);
  return out as unknown as Call;
}

/**
 * A conversation succeeded when its attempt is the one that completed the task; it failed
 * when that attempt ended any other way; it is undecided while the task runs (or when a later
 * attempt took over, which says nothing about this one's agent).
 */
const CONVERSATIONS = `
  SELECT c.*, CASE
      WHEN c.success IS NOT NULL THEN c.success
      WHEN t.attempt IS DISTINCT FROM c.attempt THEN NULL
      WHEN t.status = 'completed' THEN true
      WHEN t.status IN ('failed', 'timeout', 'cancelled') THEN false
    END AS outcome, t.policy_version
  FROM llm_conversations c LEFT JOIN tasks t ON t.id = c.task_id`;

/**
 * The columns a Call shows, by name: not `*`, which also reads the packed token-id and logprob
 * columns (the export's, tens of kilobytes a call) only to drop them.
 */
const CALL_COLUMNS = `id, conversation_id, task_id, attempt, seq, upstream, model_requested, model, stream,
  request, injected, prompt_message_count, prompt_last_seq, first_new_seq, reply_seq, prefix_consistent,
  diverged_at, finish_reasons, status, end_reason, error, usage, prompt_tokens, completion_tokens,
  total_tokens, cached_tokens, reasoning_tokens, has_token_ids, has_logprobs, cost, policy_version,
  latency_ms, ttft_ms, started_at, completed_at`;
const CALLS = (response: string) =>
  `SELECT ${CALL_COLUMNS}, ${response} FROM llm_calls
   WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`;
const CALLS_WITH_RESPONSE = CALLS('response');
const CALLS_WITHOUT_RESPONSE = CALLS('NULL::jsonb AS response');

/** Below any seq (an int4), so "after" it is the whole conversation and the index range still applies. */
const FROM_START = -2_147_483_648;

export function createConversationStore(db: Queryable) {
  return {
    async list(f: ConversationFilter): Promise<{ conversations: Conversation[]; total: number }> {
      // NULL = no filter, so one statement (and one plan) serves every combination. The policy
      // bounds read the task's version (tasks_policy_version_idx), as each call recorded it.
      const where = `WHERE ($1::uuid IS NULL OR c.task_id = $1::uuid) AND ($2::text IS NULL OR c.model_name = $2)
        AND (($3::bigint IS NULL AND $4::bigint IS NULL) OR c.task_id IN (
          SELECT id FROM tasks WHERE policy_version >= COALESCE($3::bigint, 0)
            AND policy_version <= COALESCE($4::bigint, 9223372036854775807)))`;
      const args = [
        f.task_id ?? null,
        f.model_name ?? null,
        f.policy_version_min ?? null,
        f.policy_version_max ?? null,
      ];
      const total = await db.query<Row>(`SELECT count(*)::int AS n FROM llm_conversations c ${where}`, args);
      const { rows } = await db.query<Row>(
        `${CONVERSATIONS} ${where} ORDER BY c.started_at DESC, c.seq DESC LIMIT $5 OFFSET $6`,
        [...args, f.limit, f.offset],
      );
      return { conversations: rows.map(toConversation), total: num(total.rows[0]?.n) };
    },

    async get(id: string): Promise<Conversation | null> {
      const { rows } = await db.query<Row>(`${CONVERSATIONS} WHERE c.id = $1`, [id]);
      return rows[0] ? toConversation(rows[0]) : null;
    },

    /**
     * A task's conversations, newest first (the order the Python task executor listed them in),
     * or null when there is no such task.
     */
    async listByTask(taskId: string): Promise<Conversation[] | null> {
      const task = await db.query<Row>('SELECT 1 FROM tasks WHERE id = $1', [taskId]);
      if (task.rows.length === 0) return null;
      const { rows } = await db.query<Row>(
        `${CONVERSATIONS} WHERE c.task_id = $1 ORDER BY c.started_at DESC, c.seq DESC`,
        [taskId],
      );
      return rows.map(toConversation);
    },

    /** Messages in conversation order (seq); role narrows to one role. */
    async messages(conversationId: string, role?: string): Promise<Message[]> {
      const { rows } = await db.query<Row>(
        `SELECT * FROM llm_messages WHERE conversation_id = $1 AND ($2::text IS NULL OR role = $2)
         ORDER BY seq`,
        [conversationId, role ?? null],
      );
      return rows.map(toMessage);
    },

    /**
     * One page of messages in conversation order: those after `afterSeq` (absent: from the
     * first), at most `limit`.
     * One row past the limit is read to tell whether more follow; `next_after_seq` is the
     * cursor for the next page, null at the end.
     */
    async messagePage(
      conversationId: string,
      opts: { role?: string; afterSeq?: number; limit: number },
    ): Promise<{ messages: Message[]; next_after_seq: number | null }> {
      const { rows } = await db.query<Row>(
        `SELECT * FROM llm_messages
         WHERE conversation_id = $1 AND ($2::text IS NULL OR role = $2) AND seq > $3
         ORDER BY seq LIMIT $4`,
        [conversationId, opts.role ?? null, opts.afterSeq ?? FROM_START, opts.limit + 1],
      );
      const messages = rows.slice(0, opts.limit).map(toMessage);
      const more = rows.length > opts.limit;
      return { messages, next_after_seq: more ? (messages.at(-1)?.seq ?? null) : null };
    },

    /**
     * Calls in order, from `after_seq` on; `include_response` false leaves the documents out
     * (not read at all: the response is most of a call's row).
     */
    async calls(
      conversationId: string,
      opts: { afterSeq: number; limit: number; includeResponse: boolean },
    ): Promise<Call[]> {
      const { rows } = await db.query<Row>(
        opts.includeResponse ? CALLS_WITH_RESPONSE : CALLS_WITHOUT_RESPONSE,
        [conversationId, opts.afterSeq, opts.limit],
      );
      return rows.map(toCall);
    },

    async stats(): Promise<ConversationStats> {
      const totals = await db.query<Row>(
        `SELECT count(*)::int AS conversations,
                coalesce(sum(message_count), 0)::bigint AS messages,
                coalesce(sum(call_count), 0)::bigint AS calls,
                coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
                coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
                coalesce(sum(total_tokens), 0)::bigint AS total_tokens,
                coalesce(sum(cached_tokens), 0)::bigint AS cached_tokens,
                coalesce(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
                coalesce(sum(cost), 0)::float8 AS cost,
                coalesce(sum(unpriced_calls), 0)::bigint AS unpriced_calls,
                count(*) FILTER (WHERE outcome)::int AS succeeded,
                count(outcome)::int AS decided
         FROM (${CONVERSATIONS}) x`,
      );
      const byModel = await db.query<Row>(
        `SELECT model_name, count(*)::int AS conversations, coalesce(sum(total_tokens), 0)::bigint AS total_tokens,
                coalesce(sum(cost), 0)::float8 AS cost, coalesce(sum(unpriced_calls), 0)::bigint AS unpriced_calls
         FROM llm_conversations GROUP BY model_name ORDER BY conversations DESC, model_name LIMIT 200`,
      );
      const t = totals.rows[0] ?? {};
      const decided = num(t.decided);
      const conversations = num(t.conversations);
      const succeeded = num(t.succeeded);
      const byModelNamed = byModel.rows.filter((r) => r.model_name != null);
      return {
        total_conversations: conversations,
        conversations_by_model: Object.fromEntries(
          byModelNamed.map((r) => [r.model_name as string, num(r.conversations)]),
        ),
        avg_messages_per_conversation: conversations > 0 ? num(t.messages) / conversations : 0,
        total_tokens_consumed: num(t.total_tokens),
        successful_conversations: succeeded,
        success_rate: conversations > 0 ? succeeded / conversations : 0,
        total_messages: num(t.messages),
        total_calls: num(t.calls),
        prompt_tokens: num(t.prompt_tokens),
        completion_tokens: num(t.completion_tokens),
        total_tokens: num(t.total_tokens),
        cached_tokens: num(t.cached_tokens),
        reasoning_tokens: num(t.reasoning_tokens),
        total_cost: num(t.cost),
        unpriced_calls: num(t.unpriced_calls),
        success_ratio: decided > 0 ? succeeded / decided : null,
        by_model: byModel.rows.map((r) => ({
          model_name: (r.model_name as string | null) ?? null,
          conversations: num(r.conversations),
          total_tokens: num(r.total_tokens),
          cost: num(r.cost),
          unpriced_calls: num(r.unpriced_calls),
        })),
      };
    },
  };
}

export type ConversationStore = ReturnType<typeof createConversationStore>;
