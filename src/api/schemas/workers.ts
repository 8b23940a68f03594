/**
 * Worker request and response schemas. The seed's worker client must work unchanged with these.
 *
 * The worker protocol's bodies are closed (`additionalProperties: false`): a misspelt field
 * (`atempt`) is a 422 naming it, not a report that silently drops its fence. Every field the
 * predecessor documents or its worker client (shared/seed/predecessor) sends stays accepted.
 * Free-form maps (capabilities, metadata, context, result, error_details) stay open, and so
 * does the complete body, which the predecessor stored whole as the result.
 */
import { Type } from 'typebox';
import { WORKER_STATUSES } from '../../queue/types.ts';
import { AnyJson, DateTime, JsonObject, Maybe, Nullable, Uuid } from './common.ts';
import { BACKEND_TYPE_PATTERN, LogLevelEnum, TaskSchema, TaskStatusEnum } from './tasks.ts';

export const WorkerStatusEnum = Type.Enum([...WORKER_STATUSES]);
const WorkerIdField = Type.String({ minLength: 1, maxLength: 200 });
const MaxParallel = Type.Integer({
  minimum: 1,
  maximum: 1000,
  description: 'Tasks run at once (default 1).',
});
/** The attempt column is an int4: a larger number is a 422 here, not a database error later. */
const MAX_ATTEMPT = 2_147_483_647;
const Closed = { additionalProperties: false } as const;
const SupportedProblems = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
  maxItems: 1000,
  description: 'Problem ids or globs (* and ?) this worker runs; empty = all.',
});

export const RegisterBody = Type.Object(
  {
    worker_id: Maybe(WorkerIdField),
    id: Maybe(WorkerIdField),
    backend_type: Maybe(Type.String({ pattern: BACKEND_TYPE_PATTERN, description: "Default 'command'." })),
    capabilities: Maybe(
      Type.Object(
        { max_parallel_tasks: Maybe(MaxParallel), supported_problems: Maybe(SupportedProblems) },
        { additionalProperties: true },
      ),
    ),
    max_parallel_tasks: Maybe(MaxParallel),
    supported_problems: Maybe(SupportedProblems),
    metadata: Maybe(JsonObject),
  },
  {
    ...Closed,
    examples: [
      {
        worker_id: 'worker-001-kind',
        backend_type: 'aiopslab',
        capabilities: { max_parallel_tasks: 1, supported_problems: ['k8s_*'] },
        metadata: { host: 'gpu-01', kind_cluster: 'kind-worker-001' },
      },
    ],
  },
);

export const WorkerSchema = Type.Object({
  id: Type.String(),
  worker_id: Type.String(),
  backend_type: Type.String(),
  status: WorkerStatusEnum,
  capabilities: JsonObject,
  metadata: JsonObject,
  last_heartbeat: DateTime,
  registered_at: DateTime,
  current_task_id: Nullable(Uuid),
  running_tasks: Type.Integer(),
  tasks_completed: Type.Integer(),
  tasks_failed: Type.Integer(),
});

export const WorkerListQuery = Type.Object({
  status: Type.Optional(WorkerStatusEnum),
  backend_type: Type.Optional(Type.String({ maxLength: 64 })),
});
export const WorkerListResponse = Type.Object({ workers: Type.Array(WorkerSchema), total: Type.Integer() });

export const WorkerParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
export const WorkerTaskParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200 }),
  task_id: Uuid,
});

const LeaseSchema = Type.Object(
  { task_id: Uuid, attempt: Type.Integer({ minimum: 0, maximum: MAX_ATTEMPT }) },
  Closed,
);

const heartbeatFields = {
  status: Maybe(WorkerStatusEnum),
  status_reason: Maybe(
    Type.String({
      maxLength: 1000,
      description:
        'Why the worker claims nothing now (e.g. its cluster is being reset); shown as metadata.status_reason. null clears it; omitted leaves it.',
    }),
  ),
  current_task_id: Maybe(Uuid),
  tasks: Maybe(
    Type.Array(LeaseSchema, {
      maxItems: 1000,
      description: 'Every task the worker runs, with its attempt. Omitted: all held leases are extended.',
    }),
  ),
};
const HEARTBEAT_EXAMPLE = {
  status: 'busy',
  tasks: [{ task_id: '3fa85f64-5717-4562-b3fc-2c963f66afa6', attempt: 1 }],
};
export const HeartbeatBody = Type.Object(heartbeatFields, { ...Closed, examples: [HEARTBEAT_EXAMPLE] });
export const HeartbeatAnyBody = Type.Object(
  { worker_id: Maybe(WorkerIdField), id: Maybe(WorkerIdField), ...heartbeatFields },
  { ...Closed, examples: [{ worker_id: 'worker-001-kind', ...HEARTBEAT_EXAMPLE }] },
);

/** The worker as the predecessor returned it, and the lease report. */
export const HeartbeatResponse = Type.Intersect([
  WorkerSchema,
  Type.Object({
    acknowledged: Type.Boolean(),
    message: Type.String(),
    timestamp: DateTime,
    lease_seconds: Type.Integer({ description: 'Each heartbeat extends held leases by this much.' }),
    extended: Type.Array(LeaseSchema),
    lost_task_ids: Type.Array(Uuid, {
      description: 'Reported tasks this worker no longer holds: stop them.',
    }),
    cancel_task_ids: Type.Array(Uuid, { description: 'Held tasks a user cancelled: stop them and report.' }),
  }),
]);

export const ClaimQuery = Type.Object({
  wait: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 60,
      description: 'Seconds to wait for a task (long-poll). Default 0.',
    }),
  ),
  claim_id: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9._:-]{1,128}$',
      description:
        'Makes the claim idempotent: a retry with the same claim_id (after a lost response) returns the task that claim handed out, with a fresh gateway token, instead of claiming another.',
    }),
  ),
});
/** The claim needs no body; the seed's quick start repeats the worker id in one. */
const MAX_TASKS_PER_CALL = 100;
export const ClaimBody = Type.Object(
  {
    worker_id: Maybe(WorkerIdField),
    id: Maybe(WorkerIdField),
    max_tasks: Maybe(
      Type.Integer({
        minimum: 1,
        maximum: MAX_TASKS_PER_CALL,
        description:
          'Claim up to this many tasks at once (bounded by the worker’s free slots). Given: the answer is an object with `tasks` (possibly empty), the first task’s fields beside it. Omitted: one task or null, as the predecessor answered.',
      }),
    ),
  },
  { ...Closed, examples: [{}, { max_tasks: 8 }] },
);

export const ClaimedTaskSchema = Type.Intersect([
  TaskSchema,
  Type.Object({
    llm_base_url: Type.String({
      description: 'OpenAI-compatible base URL of the recording LLM gateway, for this attempt’s agent.',
    }),
    llm_api_key: Type.String({
      description: 'This attempt’s task token: the API key for llm_base_url, valid while the attempt runs.',
    }),
  }),
]);

const ClaimedTasks = Type.Array(ClaimedTaskSchema, {
  description: 'Every task this call claimed, in claim order (priority, then age).',
});
export const ClaimResponse = Type.Union([
  Type.Null(),
  Type.Intersect([ClaimedTaskSchema, Type.Object({ tasks: Type.Optional(ClaimedTasks) })]),
  Type.Object({ tasks: Type.Array(ClaimedTaskSchema, { maxItems: 0 }) }, Closed),
]);

const ClaimNext = Maybe(
  Type.Integer({
    minimum: 0,
    maximum: MAX_TASKS_PER_CALL,
    description:
      'After the report, claim up to this many tasks for this worker in the same request (no waiting); they come back as `next_tasks` (`tasks` in /reports).',
  }),
);

const ClaimId = Maybe(
  Type.String({
    pattern: '^[A-Za-z0-9._:-]{1,128}$',
    description:
      'With claim_next, as the claim’s claim_id: a retried request gets the tasks its claim handed out.',
  }),
);

/** A report's answer with the tasks it claimed for the worker (`claim_next`). */
export const ReportedTaskResponse = Type.Intersect([
  TaskSchema,
  Type.Object({ next_tasks: Type.Optional(ClaimedTasks) }),
]);

const Attempt = Maybe(
  Type.Integer({
    minimum: 1,
    maximum: MAX_ATTEMPT,
    description: 'The attempt from the claim (fencing token). Omitted: fenced by worker id only.',
  }),
);

export const LogsAppendBody = Type.Object(
  {
    worker_id: Maybe(WorkerIdField),
    attempt: Attempt,
    logs: Type.Array(
      Type.Object(
        {
          level: LogLevelEnum,
          message: Type.String({ maxLength: 100_000 }),
          context: Maybe(AnyJson),
          timestamp: Maybe(DateTime),
          source: Maybe(Type.String({ maxLength: 64 })),
        },
        Closed,
      ),
      { maxItems: 1000 },
    ),
  },
  {
    ...Closed,
    examples: [
      {
        attempt: 1,
        logs: [
          { level: 'info', message: 'step 1: kubectl get pods -n test-social-network', context: { step: 1 } },
          { level: 'warning', message: 'pod user-service-5b9d: CrashLoopBackOff', source: 'agent' },
        ],
      },
    ],
  },
);
export const LogsAppendResponse = Type.Object({ accepted: Type.Integer() });

/**
 * Open, unlike the other report bodies: the predecessor stored the whole body as the result
 * (`{ success, result, execution_time }` from its worker client, `{ solution, confidence }` in
 * its documentation), so any field is part of what is reported. See completionResult.
 */
export const CompleteBody = Type.Object(
  {
    worker_id: Maybe(WorkerIdField),
    attempt: Attempt,
    result: Type.Optional(AnyJson),
    claim_next: ClaimNext,
    claim_id: ClaimId,
  },
  {
    additionalProperties: true,
    description:
      'The result is `result` when nothing else is sent (besides worker_id and attempt); otherwise the whole body without those two.',
    examples: [{ attempt: 1, result: { success: true, results: { 'Detection Accuracy': 'Correct' } } }],
  },
);

export const FailBody = Type.Object(
  {
    worker_id: Maybe(WorkerIdField),
    attempt: Attempt,
    error: Maybe(Type.String({ maxLength: 100_000 })),
    error_message: Maybe(Type.String({ maxLength: 100_000 })),
    error_details: Type.Optional(AnyJson),
    retry: Maybe(Type.Boolean({ description: 'Put the task back in the queue while attempts remain.' })),
    claim_next: ClaimNext,
    claim_id: ClaimId,
  },
  { ...Closed, examples: [{ attempt: 1, error: 'kind cluster unreachable', retry: true }] },
);

export const ReleaseBody = Type.Object(
  { worker_id: Maybe(WorkerIdField), attempt: Attempt },
  { ...Closed, examples: [{ attempt: 1 }] },
);

/** The batched report: many completions and failures of one worker, and the claim of what is next. */
export const ReportsBody = Type.Object(
  {
    reports: Type.Array(
      Type.Object(
        {
          task_id: Uuid,
          attempt: Type.Integer({ minimum: 1, maximum: MAX_ATTEMPT }),
          outcome: Type.Enum(['complete', 'fail']),
          result: Type.Optional(AnyJson),
          error_details: Type.Optional(AnyJson),
          retry: Maybe(Type.Boolean()),
        },
        Closed,
      ),
      { maxItems: 1000 },
    ),
    claim_next: ClaimNext,
    claim_id: ClaimId,
  },
  {
    ...Closed,
    examples: [
      {
        reports: [
          {
            task_id: '3fa85f64-5717-4562-b3fc-2c963f66afa6',
            attempt: 1,
            outcome: 'complete',
            result: { ok: true },
          },
          {
            task_id: '6c1f3a52-7d1b-4c1e-9a43-0f5e3c2b9d10',
            attempt: 2,
            outcome: 'fail',
            error_details: { reason: 'kind cluster unreachable' },
            retry: true,
          },
        ],
        claim_next: 2,
      },
    ],
  },
);

export const ReportsResponse = Type.Object({
  results: Type.Array(
    Type.Object({
      task_id: Uuid,
      accepted: Type.Boolean(),
      status: Type.Optional(TaskStatusEnum),
      code: Type.Optional(Type.String({ description: 'Why the report was refused (the 409 codes).' })),
      error: Type.Optional(Type.String()),
    }),
    { description: 'One verdict per report, in order: a refused one (fencing) never stops the others.' },
  ),
  tasks: ClaimedTasks,
});
