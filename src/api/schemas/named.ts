/**
 * The schemas the OpenAPI document names in `components.schemas`: the resources (a task, a
 * worker, a conversation…) and the pieces several operations share (the error body, labels).
 * Everywhere they appear, the document refers to them by these names (see openapi-refs.ts).
 * A name here is public: client generators turn it into a type name, so keep names stable.
 */
import { ErrorBody } from './common.ts';
import { CallSchema, ConversationSchema, MessageSchema } from './conversations.ts';
import { ExperimentSchema, RewardSchema } from './experiments.ts';
import { OpenAiErrorBody } from './gateway.ts';
import { QueueStatsResponse, TaskStatsResponse, WorkerStatsResponse } from './stats.ts';
import { CancelResponse, Labels, TaskCreateBody, TaskLogSchema, TaskSchema, TaskWithLogs } from './tasks.ts';
import { ClaimedTaskSchema, HeartbeatResponse, WorkerSchema } from './workers.ts';

export const NAMED_SCHEMAS: Readonly<Record<string, object>> = {
  Error: ErrorBody,
  OpenAiError: OpenAiErrorBody,
  Labels,
  TaskCreate: TaskCreateBody,
  Task: TaskSchema,
  TaskWithLogs,
  TaskCancelled: CancelResponse,
  TaskLog: TaskLogSchema,
  TaskStats: TaskStatsResponse,
  QueueStats: QueueStatsResponse,
  Worker: WorkerSchema,
  WorkerHeartbeat: HeartbeatResponse,
  WorkerStats: WorkerStatsResponse,
  ClaimedTask: ClaimedTaskSchema,
  Experiment: ExperimentSchema,
  Reward: RewardSchema,
  Conversation: ConversationSchema,
  Message: MessageSchema,
  Call: CallSchema,
};
