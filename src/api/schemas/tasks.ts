/** Task request and response schemas (validation and OpenAPI). Field names follow the seed. */
import { Type } from 'typebox';
import { LOG_LEVELS, TASK_STATUSES } from '../../queue/types.ts';
import {
  AnyJson,
  DateTime,
  JsonObject,
  Maybe,
  Nullable,
  PaginationFields,
  PaginationQuery,
  Uuid,
} from './common.ts';

/** Problem ids end up in file names, log lines and URLs, so they keep to a safe alphabet. */
export const PROBLEM_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$';
export const BACKEND_TYPE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
export const LABEL_KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}$';
/**
 * `label=key=value` in a list query, split at the first '=' (keys cannot contain '=').
 * `key:value` is read too when there is no '=' at all (split at the first ':'), because
 * it is the other common spelling; a key that contains ':' needs the '=' form.
 */
export const LABEL_FILTER_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}[=:].{0,256}$';

export const TaskStatusEnum = Type.Enum([...TASK_STATUSES]);
export const LogLevelEnum = Type.Enum([...LOG_LEVELS]);

export const Labels = Type.Record(
  Type.String({ pattern: LABEL_KEY_PATTERN }),
  Type.String({ maxLength: 256 }),
  {
    additionalProperties: false,
    maxProperties: 64,
    description: `String→string map (at most 64). Keys match ${LABEL_KEY_PATTERN}; values up to 256 characters.`,
  },
);

/** The task options; accepted at the top level of the body or inside `parameters`. */
export const taskOptions = {
  priority: Maybe(Type.Integer({ minimum: 0, maximum: 10, description: '0–10, higher is claimed first.' })),
  backend_type: Maybe(
    Type.String({ pattern: BACKEND_TYPE_PATTERN, description: 'Only workers of this backend may claim it.' }),
  ),
  max_steps: Maybe(Type.Integer({ minimum: 1, maximum: 1000 })),
  timeout_minutes: Maybe(Type.Integer({ minimum: 1, maximum: 180 })),
  agent_config: Maybe(
    Type.Object(
      {},
      {
        additionalProperties: true,
        description:
          'The agent’s settings. Checked at submit (422 naming the field): model (string, default DEFAULT_AGENT_MODEL), temperature (0–2), top_p (0–1), max_tokens (positive integer), prompt_style, conversation_id. Other keys are kept as given, for other agents.',
      },
    ),
  ),
  callback_url: Maybe(
    Type.String({ format: 'uri', pattern: '^https?://\\S+$', maxLength: 2048, description: 'http(s) only.' }),
  ),
  metadata: Maybe(JsonObject),
  labels: Maybe(Labels),
  max_attempts: Maybe(
    Type.Integer({ minimum: 1, maximum: 100, description: 'Claims allowed before a lost worker fails it.' }),
  ),
  idempotency_key: Maybe(Type.String({ minLength: 1, maxLength: 200 })),
  policy_version: Maybe(
    Type.Integer({
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description:
        'The weights version of the policy being trained (RL): stored on the task and on each of its LLM calls, filterable by range.',
    }),
  ),
};
export const TASK_OPTION_KEYS = Object.keys(taskOptions) as (keyof typeof taskOptions)[];

export const TaskCreateBody = Type.Object(
  {
    problem_id: Type.String({ pattern: PROBLEM_ID_PATTERN, description: `Matches ${PROBLEM_ID_PATTERN}.` }),
    parameters: Maybe(Type.Object(taskOptions, { additionalProperties: true })),
    ...taskOptions,
  },
  { description: 'Options may be given at the top level or inside `parameters`; the top level wins.' },
);

export const TaskCreateHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});

export const MAX_BATCH = 1000;
export const TaskBatchBody = Type.Object({
  tasks: Type.Array(TaskCreateBody, { minItems: 1, maxItems: MAX_BATCH }),
});

export const TaskLogSchema = Type.Object({
  id: Uuid,
  seq: Type.Integer({
    description: 'Monotonic cursor (use as `after`); `id` is the same number written as a UUID.',
  }),
  task_id: Uuid,
  timestamp: DateTime,
  level: LogLevelEnum,
  message: Type.String(),
  context: AnyJson,
  source: Type.String(),
  attempt: Nullable(Type.Integer()),
});

export const TaskSchema = Type.Object({
  id: Uuid,
  problem_id: Type.String(),
  status: TaskStatusEnum,
  priority: Type.Integer(),
  backend_type: Nullable(Type.String()),
  parameters: Type.Object(
    {
      max_steps: Type.Integer(),
      timeout_minutes: Type.Integer(),
      agent_config: JsonObject,
      callback_url: Type.Optional(Type.String()),
      metadata: Type.Optional(JsonObject),
      labels: Type.Optional(Type.Record(Type.String(), Type.String())),
      priority: Type.Optional(
        Type.Integer({ description: 'The task’s priority, echoed as the predecessor did.' }),
      ),
      backend_type: Type.Optional(Type.String({ description: 'The task’s backend_type, when it has one.' })),
    },
    { additionalProperties: true },
  ),
  labels: Type.Record(Type.String(), Type.String()),
  worker_id: Nullable(Type.String()),
  attempt: Type.Integer({ description: 'Fencing token: incremented by each claim.' }),
  max_attempts: Type.Integer(),
  lease_expires_at: Nullable(DateTime),
  deadline_at: Nullable(DateTime),
  cancel_requested: Type.Boolean(),
  cancel_requested_at: Nullable(DateTime),
  result: AnyJson,
  error_details: Nullable(
    Type.String({
      description:
        'Why it did not complete, as text (the predecessor’s field): the message of `error_info`. Null when it completed.',
    }),
  ),
  error_info: Type.Unknown({
    description:
      'The same, structured: `{ reason, message, … }` as the worker or the server recorded it (reason e.g. timeout, worker lost, cancelled); null when none.',
  }),
  idempotency_key: Nullable(Type.String()),
  experiment_id: Nullable(Uuid),
  group_id: Nullable(
    Type.String({
      description: 'Same problem and agent config in one experiment: the K repetitions share it (GRPO).',
    }),
  ),
  repetition: Nullable(Type.Integer({ description: '0-based index of the repetition within its group.' })),
  policy_version: Nullable(Type.Integer()),
  reward: Nullable(
    Type.Number({
      description:
        'The default reward from the evaluation (see README, Rewards); null when the task did not complete or has no score.',
    }),
  ),
  reward_reason: Type.String({ description: 'How `reward` was derived, or why there is none.' }),
  callback_state: Nullable(Type.Enum(['pending', 'delivered', 'failed'])),
  created_at: DateTime,
  updated_at: DateTime,
  started_at: Nullable(DateTime),
  completed_at: Nullable(DateTime),
});

export const TaskWithLogs = Type.Intersect([
  TaskSchema,
  Type.Object({
    waiting_reason: Type.Optional(
      Nullable(
        Type.String({
          description:
            'Pending tasks only: why no live worker can run it (no worker of its backend_type, or none offering its problem); null when one can.',
        }),
      ),
    ),
    logs: Type.Optional(Type.Array(TaskLogSchema)),
  }),
]);

export const CancelResponse = Type.Intersect([
  TaskSchema,
  Type.Object({
    outcome: Type.Enum(['cancelled', 'cancel_requested'], {
      description: 'cancelled: it was pending; cancel_requested: its worker is told to stop.',
    }),
    task_id: Uuid,
    message: Type.String(),
  }),
]);

export const BatchResponse = Type.Object({
  tasks: Type.Array(TaskSchema),
  created: Type.Integer(),
  existing: Type.Integer({ description: 'Items whose idempotency_key matched an earlier task.' }),
});

export const TASK_SORT_PATTERN = '^-?(created_at|updated_at|started_at|completed_at|priority)$';

export const TaskListQuery = Type.Object({
  status: Type.Optional(TaskStatusEnum),
  problem_id: Type.Optional(Type.String({ maxLength: 200 })),
  worker_id: Type.Optional(Type.String({ maxLength: 200 })),
  backend_type: Type.Optional(Type.String({ maxLength: 64 })),
  label: Type.Optional(
    Type.Array(Type.String({ pattern: LABEL_FILTER_PATTERN }), {
      maxItems: 64,
      description:
        'Repeatable `label=key=value` (or `key:value` when the item has no `=`); a task must carry every one.',
    }),
  ),
  experiment_id: Type.Optional(Uuid),
  group_id: Type.Optional(Uuid),
  policy_version: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  policy_version_min: Type.Optional(
    Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Inclusive.' }),
  ),
  policy_version_max: Type.Optional(
    Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Inclusive.' }),
  ),
  sort: Type.Optional(
    Type.String({
      pattern: TASK_SORT_PATTERN,
      default: '-created_at',
      description:
        'created_at, updated_at, started_at, completed_at or priority; a leading `-` sorts descending. Tasks without the time sort last.',
    }),
  ),
  ...PaginationQuery,
});

export const TaskListResponse = Type.Object({ tasks: Type.Array(TaskSchema), ...PaginationFields });

export const TaskGetQuery = Type.Object({
  include_logs: Type.Optional(Type.Boolean({ description: 'Adds the most recent 1000 log entries.' })),
});

export const LogsQuery = Type.Object({
  level: Type.Optional(
    Type.String({
      pattern: `^(${LOG_LEVELS.join('|')})(,(${LOG_LEVELS.join('|')}))*$`,
      description: `One level or a comma list of: ${LOG_LEVELS.join(', ')} (any case).`,
    }),
  ),
  source: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_.:-]{1,64}(,[A-Za-z0-9_.:-]{1,64}){0,9}$',
      description:
        'One source or a comma list: `worker` (the worker and its agent), `server` (the task’s transitions: created, claimed, completed…), `callback` (callback deliveries).',
    }),
  ),
  since: Type.Optional(DateTime),
  after: Type.Optional(
    Type.String({
      pattern: '^([0-9]{1,15}|00000000-0000-4000-8000-[0-9a-fA-F]{12})$',
      description: 'Cursor: entries after this one (its `seq`, or its `id`).',
    }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
});

export const LogsResponse = Type.Object({
  task_id: Uuid,
  logs: Type.Array(TaskLogSchema),
  total: Type.Integer({ description: 'The number of entries in `logs`.' }),
  next_after: Type.Integer({ description: 'Pass as `after` to read what comes next.' }),
});
