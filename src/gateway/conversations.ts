/**
 * The conversation store, read side: what the API serves from llm_conversations and
 * llm_messages. The recording side (the gateway proxy) writes these tables in a later issue.
 */
import type { Queryable } from '../db/types.ts';

export interface Conversation {
  id: string;
  task_id: string | null;
  session_id: string | null;
  model_name: string | null;
  model_config: unknown;
  started_at: string;
  ended_at: string | null;
  message_count: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost: number | null;
  success: boolean | null;
  metadata: unknown;
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
}

export interface ConversationFilter {
  task_id?: string;
  model_name?: string;
  limit: number;
  offset: number;
}

export interface ConversationStats {
  total_conversations: number;
  total_messages: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  total_cost: number;
  success_ratio: number | null;
  by_model: { model_name: string | null; conversations: number; total_tokens: number; cost: number }[];
}

type Row = Record<string, unknown>;
const iso = (v: unknown) => (v == null ? null : new Date(v as string | Date).toISOString());
const num = (v: unknown) => Number(v ?? 0);

function toConversation(r: Row): Conversation {
  return {
    id: r.id as string,
    task_id: (r.task_id as string | null) ?? null,
    session_id: (r.session_id as string | null) ?? null,
    model_name: (r.model_name as string | null) ?? null,
    model_config: r.model_config ?? {},
    started_at: iso(r.started_at)!,
    ended_at: iso(r.ended_at),
    message_count: num(r.message_count),
    prompt_tokens: num(r.prompt_tokens),
    completion_tokens: num(r.completion_tokens),
    total_tokens: num(r.total_tokens),
    cost: r.cost == null ? null : Number(r.cost),
    success: (r.success as boolean | null) ?? null,
    metadata: r.metadata ?? {},
  };
}

function toMessage(r: Row): Message {
  return {
    id: num(r.id),
    conversation_id: r.conversation_id as string,
    seq: num(r.seq),
    role: r.role as string,
    content: r.content ?? null,
    tool_calls: r.tool_calls ?? null,
    tool_call_id: (r.tool_call_id as string | null) ?? null,
    name: (r.name as string | null) ?? null,
    metadata: r.metadata ?? {},
    created_at: iso(r.created_at)!,
  };
}

export function createConversationStore(db: Queryable) {
  return {
    async list(f: ConversationFilter): Promise<{ conversations: Conversation[]; total: number }> {
      // $1/$2 NULL = no filter, so one statement (and one plan) serves every combination.
      const where = `WHERE ($1::uuid IS NULL OR task_id = $1::uuid) AND ($2::text IS NULL OR model_name = $2)`;
      const args = [f.task_id ?? null, f.model_name ?? null];
      const total = await db.query<Row>(`SELECT count(*)::int AS n FROM llm_conversations ${where}`, args);
      const { rows } = await db.query<Row>(
        `SELECT * FROM llm_conversations ${where} ORDER BY started_at DESC, seq DESC LIMIT $3 OFFSET $4`,
        [...args, f.limit, f.offset],
      );
      return { conversations: rows.map(toConversation), total: num(total.rows[0]?.n) };
    },

    async get(id: string): Promise<Conversation | null> {
      const { rows } = await db.query<Row>('SELECT * FROM llm_conversations WHERE id = $1', [id]);
      return rows[0] ? toConversation(rows[0]) : null;
    },

    async listByTask(taskId: string): Promise<Conversation[]> {
      const { rows } = await db.query<Row>(
        'SELECT * FROM llm_conversations WHERE task_id = $1 ORDER BY started_at, seq',
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

    async stats(): Promise<ConversationStats> {
      const totals = await db.query<Row>(
        `SELECT count(*)::int AS conversations,
                coalesce(sum(message_count), 0)::bigint AS messages,
                coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
                coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
                coalesce(sum(total_tokens), 0)::bigint AS total_tokens,
                coalesce(sum(cost), 0)::float8 AS cost,
                count(*) FILTER (WHERE success)::int AS succeeded,
                count(success)::int AS decided
         FROM llm_conversations`,
      );
      const byModel = await db.query<Row>(
        `SELECT model_name, count(*)::int AS conversations, coalesce(sum(total_tokens), 0)::bigint AS total_tokens,
                coalesce(sum(cost), 0)::float8 AS cost
         FROM llm_conversations GROUP BY model_name ORDER BY conversations DESC, model_name LIMIT 200`,
      );
      const t = totals.rows[0] ?? {};
      const decided = num(t.decided);
      return {
        total_conversations: num(t.conversations),
        total_messages: num(t.messages),
        prompt_tokens: num(t.prompt_tokens),
        completion_tokens: num(t.completion_tokens),
        total_tokens: num(t.total_tokens),
        total_cost: num(t.cost),
        success_ratio: decided > 0 ? num(t.succeeded) / decided : null,
        by_model: byModel.rows.map((r) => ({
          model_name: (r.model_name as string | null) ?? null,
          conversations: num(r.conversations),
          total_tokens: num(r.total_tokens),
          cost: num(r.cost),
        })),
      };
    },
  };
}

export type ConversationStore = ReturnType<typeof createConversationStore>;
