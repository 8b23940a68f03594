/**
 * LLM conversation schemas: what the gateway recorded, read back. Each answer carries the
 * Python task executor's fields under its names too (`seed:` in the descriptions), so its
 * clients read ours unchanged (issue 10).
 */
import { Type } from 'typebox';
import { AnyJson, DateTime, Nullable, PaginationFields, PaginationQuery, Uuid } from './common.ts';

export const ConversationSchema = Type.Object({
  id: Uuid,
  task_id: Nullable(Uuid),
  session_id: Type.String({
    format: 'uuid',
    description: 'A UUID per conversation; the key the agent named it by is conversation_key.',
  }),
  model_name: Nullable(Type.String()),
  model_config: AnyJson,
  llm_config: Type.Unknown({ description: 'seed: model_config.' }),
  started_at: DateTime,
  ended_at: Nullable(DateTime),
  message_count: Type.Integer(),
  total_messages: Type.Integer({ description: 'seed: message_count.' }),
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
  cost: Nullable(Type.Number({ description: 'USD of the priced calls; null when none had a price.' })),
  total_cost: Type.Object(
    {
      input_tokens: Type.Integer(),
      output_tokens: Type.Integer(),
      total_cost: Nullable(Type.Number({ description: 'USD: cost.' })),
    },
    { description: 'seed: the cost breakdown object (prompt_tokens, completion_tokens, cost).' },
  ),
  success: Nullable(
    Type.Boolean({
      description:
        'Whether this attempt completed the task; null while it runs or when a later attempt took over.',
    }),
  ),
  metadata: Type.Unknown({
    description:
      'problem_id, worker_id, attempt, and kind_cluster/cluster_name when the worker registered one; success once known.',
  }),
  attempt: Nullable(Type.Integer({ description: 'The task attempt this conversation belongs to.' })),
  conversation_key: Nullable(
    Type.String({ description: 'X-Conversation-Id / metadata.conversation_id, or "default".' }),
  ),
  policy_version: Nullable(Type.Integer({ description: 'Its task’s policy_version (null outside RL).' })),
  call_count: Type.Integer(),
  cached_tokens: Type.Integer(),
  reasoning_tokens: Type.Integer(),
  unpriced_calls: Type.Integer({
    description: 'Calls with token usage but no known price (missing from cost).',
  }),
});

export const MessageSchema = Type.Object({
  id: Type.Integer(),
  conversation_id: Uuid,
  seq: Type.Integer({ description: 'Order within the conversation.' }),
  role: Type.String(),
  content: AnyJson,
  tool_calls: AnyJson,
  tool_call_id: Nullable(Type.String()),
  name: Nullable(Type.String()),
  metadata: AnyJson,
  created_at: DateTime,
  timestamp: Type.String({ format: 'date-time', description: 'seed: created_at.' }),
  parent_seq: Nullable(
    Type.Integer({ description: 'The message before this one in the prompt it arrived in (null: first).' }),
  ),
  depth: Type.Integer({ description: 'Position in that prompt, 1-based.' }),
});

export const CallSchema = Type.Object({
  id: Type.Integer(),
  conversation_id: Uuid,
  task_id: Nullable(Uuid),
  attempt: Nullable(Type.Integer()),
  seq: Type.Integer({ description: 'Order of the call within its conversation, from 1.' }),
  upstream: Type.String(),
  model_requested: Type.String(),
  model: Nullable(Type.String({ description: 'The model the upstream says answered.' })),
  stream: Type.Boolean(),
  request: AnyJson,
  injected: AnyJson,
  prompt_message_count: Type.Integer(),
  prompt_last_seq: Nullable(
    Type.Integer({ description: 'Last message of the prompt; follow parent_seq back to rebuild it.' }),
  ),
  first_new_seq: Nullable(Type.Integer({ description: 'First message this call added to the store.' })),
  reply_seq: Nullable(Type.Integer()),
  prefix_consistent: Type.Boolean({ description: 'The prompt extended the previous call’s context.' }),
  diverged_at: Nullable(
    Type.Integer({ description: 'When not prefix-consistent: leading prompt messages that matched.' }),
  ),
  response: AnyJson,
  finish_reasons: AnyJson,
  status: Nullable(Type.Integer()),
  end_reason: Type.String({ description: 'done | client_cancelled | upstream_error | timeout' }),
  error: Nullable(Type.String()),
  usage: AnyJson,
  prompt_tokens: Nullable(Type.Integer()),
  completion_tokens: Nullable(Type.Integer()),
  total_tokens: Nullable(Type.Integer()),
  cached_tokens: Nullable(Type.Integer()),
  reasoning_tokens: Nullable(Type.Integer()),
  has_token_ids: Type.Boolean(),
  has_logprobs: Type.Boolean(),
  cost: Nullable(Type.Number({ description: 'USD; null when the price is unknown.' })),
  policy_version: Nullable(
    Type.Integer({ description: 'The task’s policy_version when the call was made.' }),
  ),
  latency_ms: Nullable(Type.Number()),
  ttft_ms: Nullable(Type.Number({ description: 'Time to the first streamed output chunk.' })),
  started_at: DateTime,
  completed_at: DateTime,
});

export const CallsQuery = Type.Object({
  after_seq: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Only calls with a larger seq (paging).' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  include_response: Type.Optional(
    Type.Boolean({ default: true, description: 'false leaves the response documents out.' }),
  ),
});

export const CallsResponse = Type.Object({
  conversation_id: Uuid,
  calls: Type.Array(CallSchema),
});

/** The most messages one answer carries; page with `after_seq` for more. */
export const MAX_MESSAGES_PAGE = 1000;

/** Paging of a conversation's messages, by seq (a monotonic cursor: a growing conversation pages safely). */
export const MessagePageQuery = {
  after_seq: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Only messages with a larger seq (pass next_after_seq).' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_MESSAGES_PAGE, default: MAX_MESSAGES_PAGE })),
};

const NextAfterSeq = Nullable(
  Type.Integer({
    description: 'Pass as after_seq for the next page; null when this page reached the last message.',
  }),
);

export const ConversationQuery = Type.Object(MessagePageQuery);

export const ConversationWithMessages = Type.Intersect([
  ConversationSchema,
  Type.Object({
    messages: Type.Array(MessageSchema, {
      description: 'One page (limit, default 1000); message_count is the total.',
    }),
    next_after_seq: NextAfterSeq,
  }),
]);

export const ConversationListQuery = Type.Object({
  task_id: Type.Optional(Uuid),
  model_name: Type.Optional(Type.String({ maxLength: 200 })),
  policy_version_min: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Inclusive; the task’s policy_version.',
    }),
  ),
  policy_version_max: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Inclusive; the task’s policy_version.',
    }),
  ),
  ...PaginationQuery,
});

export const ConversationListResponse = Type.Object({
  conversations: Type.Array(ConversationSchema),
  ...PaginationFields,
});

/** A bare list, as the Python task executor answered; X-Total-Count carries the count. */
export const TaskConversationsResponse = Type.Array(ConversationSchema, {
  description: 'The task’s conversations, newest first.',
});

export const MessagesQuery = Type.Object({
  role: Type.Optional(Type.String({ maxLength: 32, description: 'system, user, assistant, tool…' })),
  ...MessagePageQuery,
});

export const MessagesResponse = Type.Object({
  conversation_id: Uuid,
  total_messages: Type.Integer({ description: 'seed: how many messages this answer carries.' }),
  messages: Type.Array(MessageSchema),
  next_after_seq: NextAfterSeq,
});

export const ConversationStatsResponse = Type.Object({
  total_conversations: Type.Integer(),
  conversations_by_model: Type.Record(Type.String(), Type.Integer(), {
    description: 'seed: model name → conversations (conversations without a model are left out).',
  }),
  avg_messages_per_conversation: Type.Number({ description: 'seed: 0 when there are no conversations.' }),
  total_tokens_consumed: Type.Integer({ description: 'seed: total_tokens.' }),
  successful_conversations: Type.Integer({
    description: 'seed: conversations whose attempt completed its task.',
  }),
  success_rate: Type.Number({
    description: 'seed: successful_conversations / total_conversations, 0 when there are none.',
  }),
  total_messages: Type.Integer(),
  total_calls: Type.Integer(),
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
  cached_tokens: Type.Integer(),
  reasoning_tokens: Type.Integer(),
  total_cost: Type.Number({ description: 'USD of the priced calls; see unpriced_calls.' }),
  unpriced_calls: Type.Integer({ description: 'Calls with token usage but no known price.' }),
  success_ratio: Nullable(Type.Number({ description: 'Among conversations whose success is known.' })),
  by_model: Type.Array(
    Type.Object({
      model_name: Nullable(Type.String()),
      conversations: Type.Integer(),
      total_tokens: Type.Integer(),
      cost: Type.Number(),
      unpriced_calls: Type.Integer(),
    }),
  ),
});
