/** LLM conversation schemas (read-only for now; the gateway fills the tables). */
import { Type } from 'typebox';
import { AnyJson, DateTime, Nullable, PaginationFields, PaginationQuery, Uuid } from './common.ts';

export const ConversationSchema = Type.Object({
  id: Uuid,
  task_id: Nullable(Uuid),
  session_id: Nullable(Type.String()),
  model_name: Nullable(Type.String()),
  model_config: AnyJson,
  started_at: DateTime,
  ended_at: Nullable(DateTime),
  message_count: Type.Integer(),
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
  cost: Nullable(Type.Number()),
  success: Nullable(Type.Boolean()),
  metadata: AnyJson,
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
});

export const ConversationWithMessages = Type.Intersect([
  ConversationSchema,
  Type.Object({ messages: Type.Array(MessageSchema) }),
]);

export const ConversationListQuery = Type.Object({
  task_id: Type.Optional(Uuid),
  model_name: Type.Optional(Type.String({ maxLength: 200 })),
  ...PaginationQuery,
});

export const ConversationListResponse = Type.Object({
  conversations: Type.Array(ConversationSchema),
  ...PaginationFields,
});

export const TaskConversationsResponse = Type.Object({
  task_id: Uuid,
  conversations: Type.Array(ConversationSchema),
  total: Type.Integer(),
});

export const MessagesQuery = Type.Object({
  role: Type.Optional(Type.String({ maxLength: 32, description: 'system, user, assistant, tool…' })),
});

export const MessagesResponse = Type.Object({
  conversation_id: Uuid,
  messages: Type.Array(MessageSchema),
});

export const ConversationStatsResponse = Type.Object({
  total_conversations: Type.Integer(),
  total_messages: Type.Integer(),
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
  total_cost: Type.Number(),
  success_ratio: Nullable(Type.Number({ description: 'Among conversations whose success is known.' })),
  by_model: Type.Array(
    Type.Object({
      model_name: Nullable(Type.String()),
      conversations: Type.Integer(),
      total_tokens: Type.Integer(),
      cost: Type.Number(),
    }),
  ),
});
