/**
 * The trajectory record: one line of `trajectories.jsonl` per task attempt, and the source every
 * other export format (OpenAI chat, tokens, ATIF, Parquet) is derived from. Its JSON Schema is
 * served at /api/v1/export/schema; bump TRAJECTORY_SCHEMA_VERSION on any change a reader could
 * notice (a field renamed, removed or retyped; added optional fields keep the major version).
 */
import { type Static, Type } from 'typebox';

export const TRAJECTORY_SCHEMA_VERSION = '1.0';

const Nullable = <T extends import('typebox').TSchema>(s: T) => Type.Union([s, Type.Null()]);
const Json = Type.Unknown();

export const ExportMessage = Type.Object({
  seq: Type.Integer({ description: 'Order in the conversation store, from 1.' }),
  parent_seq: Nullable(Type.Integer({ description: 'The message before this one in its context.' })),
  role: Type.String({ description: 'system | user | assistant | tool' }),
  content: Json,
  tool_calls: Json,
  tool_call_id: Nullable(Type.String()),
  name: Nullable(Type.String()),
});

export const ExportCall = Type.Object({
  seq: Type.Integer({ description: 'Order of the call in its conversation, from 1.' }),
  model_requested: Type.String(),
  model: Nullable(Type.String()),
  upstream: Type.String(),
  /** The request parameters (temperature, tools, …), without the messages. */
  request: Json,
  prompt_last_seq: Nullable(
    Type.Integer({ description: 'Last message of its prompt (follow parent_seq back).' }),
  ),
  reply_seq: Nullable(Type.Integer({ description: 'The assistant message it produced.' })),
  prefix_consistent: Type.Boolean(),
  finish_reasons: Json,
  end_reason: Type.String(),
  status: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  usage: Json,
  prompt_tokens: Nullable(Type.Integer()),
  completion_tokens: Nullable(Type.Integer()),
  cached_tokens: Nullable(Type.Integer()),
  reasoning_tokens: Nullable(Type.Integer()),
  cost: Nullable(Type.Number()),
  latency_ms: Nullable(Type.Number()),
  ttft_ms: Nullable(Type.Number()),
  policy_version: Nullable(Type.Integer()),
  started_at: Type.String({ format: 'date-time' }),
  completed_at: Type.String({ format: 'date-time' }),
  /** From vLLM-style upstreams with return_token_ids: the prompt as the model saw it. */
  prompt_token_ids: Nullable(Type.Array(Type.Integer())),
  /** The sampled tokens of the first choice. */
  completion_token_ids: Nullable(Type.Array(Type.Integer())),
  /** Log-probability of each sampled token of the first choice, aligned with completion_token_ids. */
  completion_logprobs: Nullable(Type.Array(Type.Number())),
});

export const ExportConversation = Type.Object({
  id: Type.String({ format: 'uuid' }),
  conversation_key: Nullable(Type.String()),
  model_name: Nullable(Type.String()),
  started_at: Type.String({ format: 'date-time' }),
  ended_at: Nullable(Type.String({ format: 'date-time' })),
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
  cost: Nullable(Type.Number()),
  /** Every stored message in seq order (a tree when a prompt rewrote its history; see parent_seq). */
  messages: Type.Array(ExportMessage),
  calls: Type.Array(ExportCall),
});

export const ExportStep = Type.Object({
  timestamp: Type.String({ format: 'date-time' }),
  level: Type.String(),
  message: Type.String(),
  context: Json,
  source: Type.String(),
});

export const TrajectoryRecord = Type.Object(
  {
    schema_version: Type.Literal(TRAJECTORY_SCHEMA_VERSION),
    /** The feed cursor of the task's finish: the export's order and its resume point. */
    cursor: Type.String(),
    task_id: Type.String({ format: 'uuid' }),
    attempt: Type.Integer({ minimum: 1 }),
    /** Attempts the task took; the last one is `final`. */
    attempts: Type.Integer({ minimum: 1 }),
    final: Type.Boolean(),
    problem_id: Type.String(),
    task_type: Nullable(Type.String()),
    backend_type: Nullable(Type.String()),
    worker_id: Nullable(Type.String()),
    /** The task's status for the final attempt; `lost` for an attempt whose worker went away. */
    status: Type.String(),
    error: Json,
    experiment_id: Nullable(Type.String({ format: 'uuid' })),
    group_id: Nullable(Type.String({ format: 'uuid' })),
    repetition: Nullable(Type.Integer()),
    policy_version: Nullable(Type.Integer()),
    labels: Type.Record(Type.String(), Type.String()),
    agent_config: Json,
    created_at: Type.String({ format: 'date-time' }),
    started_at: Nullable(Type.String({ format: 'date-time' })),
    completed_at: Nullable(Type.String({ format: 'date-time' })),
    queue_seconds: Nullable(Type.Number()),
    run_seconds: Nullable(Type.Number()),
    /** The evaluation (AIOpsLab's results dict), null when the attempt has none. */
    results: Json,
    /** The whole stored result of the final attempt (results, task_type, steps, session…). */
    result: Json,
    reward: Nullable(Type.Number()),
    reward_reason: Type.String(),
    /** The newest value of each named reward. */
    rewards: Type.Record(Type.String(), Type.Number()),
    reward_history: Type.Array(
      Type.Object({
        name: Type.String(),
        value: Type.Number(),
        details: Json,
        written_by: Type.String(),
        created_at: Type.String({ format: 'date-time' }),
      }),
    ),
    conversations: Type.Array(ExportConversation),
    /** The attempt's log, in order: the environment's steps, the agent's calls, transitions. */
    steps: Type.Array(ExportStep),
  },
  { $id: 'https://task-executor/schemas/trajectory-1.0.json', title: 'Task Executor trajectory record' },
);

export type TrajectoryRecord = Static<typeof TrajectoryRecord>;
export type ExportConversation = Static<typeof ExportConversation>;
export type ExportCall = Static<typeof ExportCall>;
export type ExportMessage = Static<typeof ExportMessage>;
export type ExportStep = Static<typeof ExportStep>;
