/** Experiment request and response schemas (issue 12). */
import { Type } from 'typebox';
import { TASK_TYPES } from '../../backends/environment.ts';
import { DateTime, JsonObject, Nullable, PaginationFields, PaginationQuery, Uuid } from './common.ts';
import { BACKEND_TYPE_PATTERN, taskOptions } from './tasks.ts';

/** The largest grid one request may expand (problems × agent configs × repetitions). */
export const MAX_EXPERIMENT_TASKS = 10_000;

/** A problem id, or a glob over a catalogue's ids (`*` any run, `?` one character). */
const PROBLEM_OR_GLOB = '^[A-Za-z0-9*?][A-Za-z0-9_.:/*?-]{0,199}$';

export const ProblemFilter = Type.Object(
  {
    task_type: Type.Optional(Type.Enum([...TASK_TYPES])),
    backend: Type.Optional(Type.String({ pattern: BACKEND_TYPE_PATTERN })),
  },
  {
    additionalProperties: false,
    description:
      'Every catalogued problem of the backend (default: the experiment’s backend_type, else every catalogued backend) of this task type.',
  },
);

const { priority, backend_type, max_steps, timeout_minutes, max_attempts, labels, metadata, policy_version } =
  taskOptions;

export const ExperimentCreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    problems: Type.Union(
      [Type.Array(Type.String({ pattern: PROBLEM_OR_GLOB }), { minItems: 1, maxItems: 1000 }), ProblemFilter],
      {
        description:
          'Problem ids and globs (resolved against the backend catalogues; a glob matching nothing is a 422), or a {task_type, backend} filter.',
      },
    ),
    agent_configs: Type.Array(
      Type.Object(
        {},
        { additionalProperties: true, description: 'model, temperature, … (as agent_config).' },
      ),
      { minItems: 1, maxItems: 100 },
    ),
    repetitions: Type.Integer({ minimum: 1, maximum: 1000, description: 'K: tasks per group.' }),
    priority,
    backend_type,
    max_steps,
    timeout_minutes,
    max_attempts,
    labels,
    metadata,
    policy_version,
    idempotency_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description:
          'Retrying with the same key (or Idempotency-Key header) returns the experiment made the first time.',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        name: 'grpo-smoke',
        problems: ['sandbox-*-detection-*'],
        agent_configs: [{ model: 'scripted:solver' }, { model: 'scripted:wrong' }],
        repetitions: 4,
        backend_type: 'sandbox',
        policy_version: 0,
      },
      {
        name: 'detection-sweep',
        problems: { task_type: 'detection', backend: 'sandbox' },
        agent_configs: [{ model: 'gpt-4o-mini', temperature: 1.0 }],
        repetitions: 8,
      },
    ],
  },
);

const ProgressSchema = Type.Object({
  by_status: Type.Record(Type.String(), Type.Integer()),
  total: Type.Integer(),
  finished: Type.Integer(),
  success_rate: Nullable(Type.Number({ description: 'completed / (completed + failed + timeout).' })),
  groups_total: Type.Integer(),
  groups_complete: Type.Integer({ description: 'Groups whose every repetition is terminal.' }),
  prompt_tokens: Type.Number(),
  completion_tokens: Type.Number(),
  total_tokens: Type.Number(),
  cost: Nullable(Type.Number({ description: 'USD over its tasks’ LLM conversations; null when unpriced.' })),
  first_started_at: Nullable(DateTime),
  last_completed_at: Nullable(DateTime),
  wall_seconds: Nullable(Type.Number({ description: 'First start → last end (→ now while running).' })),
});

export const ExperimentSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  status: Type.Enum(['pending', 'running', 'completed', 'cancelled']),
  spec: JsonObject,
  task_count: Type.Integer(),
  group_count: Type.Integer(),
  created_by: Type.String(),
  idempotency_key: Nullable(Type.String()),
  created_at: DateTime,
  cancelled_at: Nullable(DateTime),
  progress: ProgressSchema,
});

export const ExperimentListQuery = Type.Object({ ...PaginationQuery });
export const ExperimentListResponse = Type.Object({
  experiments: Type.Array(ExperimentSchema),
  ...PaginationFields,
});

export const ExperimentCancelResponse = Type.Object({
  experiment: ExperimentSchema,
  cancelled: Type.Integer({ description: 'Pending tasks ended cancelled.' }),
  cancel_requested: Type.Integer({ description: 'Running tasks asked to stop.' }),
});

export const RewardBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^\\S(.*\\S)?$' }),
    value: Type.Number(),
    details: Type.Optional(Nullable(JsonObject)),
  },
  {
    additionalProperties: false,
    examples: [{ name: 'judge', value: 0.8, details: { judge_model: 'gpt-4o', rubric: 'root cause named' } }],
  },
);

export const RewardSchema = Type.Object({
  id: Type.Integer({ description: 'Monotonic cursor across all tasks.' }),
  task_id: Uuid,
  name: Type.String(),
  value: Type.Number(),
  details: Type.Unknown(),
  written_by: Type.String({ description: 'The writer’s role (client, admin), or anonymous on an open API.' }),
  created_at: DateTime,
});

export const RewardsQuery = Type.Object({ name: Type.Optional(Type.String({ maxLength: 100 })) });

export const RewardsResponse = Type.Object({
  task_id: Uuid,
  reward: Nullable(Type.Number({ description: 'The default reward from the evaluation.' })),
  reward_reason: Type.String(),
  rewards: Type.Array(RewardSchema, { description: 'Written rewards, oldest first (append-only).' }),
});

export const ExperimentGroupSchema = Type.Object({
  group_id: Uuid,
  problem_id: Type.String(),
  agent_config: JsonObject,
  model: Nullable(Type.String({ description: 'The agent config’s model.' })),
  size: Type.Integer({ description: 'Tasks in the group (its K repetitions).' }),
  by_status: Type.Record(Type.String(), Type.Integer()),
  finished: Type.Integer(),
  success_rate: Nullable(Type.Number({ description: 'completed / (completed + failed + timeout).' })),
  mean_reward: Nullable(
    Type.Number({ description: 'Mean default reward over the tasks that have one (see Rewards).' }),
  ),
  rewarded: Type.Integer({ description: 'How many tasks the mean is over.' }),
});

export const ExperimentGroupsResponse = Type.Object({
  experiment_id: Uuid,
  groups: Type.Array(ExperimentGroupSchema),
});
