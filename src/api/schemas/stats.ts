/**
 * Stats responses: ours plus the predecessor's field names (its clients read those), and the
 * window every average covers, said in the response.
 */
import { Type } from 'typebox';
import { STATS_WINDOWS } from '../../queue/stats.ts';
import { Nullable } from './common.ts';

const Counts = Type.Record(Type.String(), Type.Integer());

export const WindowQuery = Type.Object({
  window: Type.Optional(
    Type.Enum([...STATS_WINDOWS], {
      default: '1h',
      description:
        'Span of the averages and window counts: the last hour (default), the last 24 hours, or all (since counting began).',
    }),
  ),
});

const WindowSchema = Type.Object(
  {
    window: Type.Enum([...STATS_WINDOWS]),
    since: Nullable(Type.String({ format: 'date-time', description: 'Start of the window; null for all.' })),
    claims: Type.Integer({ description: 'Tasks handed to workers in the window (each attempt counts).' }),
    completed: Type.Integer(),
    failed: Type.Integer({ description: 'failed + timeout' }),
    cancelled: Type.Integer(),
    success_rate: Nullable(Type.Number({ description: 'completed / (completed + failed) in the window' })),
    average_wait_seconds: Nullable(Type.Number({ description: 'Mean time in pending before a claim.' })),
    average_execution_seconds: Nullable(Type.Number({ description: 'Mean run time of completed tasks.' })),
  },
  { description: 'What happened in the window the averages cover.' },
);

const statusCounts = {
  total: Type.Integer({ description: 'Tasks in the database now (exact, kept by the transitions).' }),
  pending: Type.Integer(),
  running: Type.Integer(),
  completed: Type.Integer(),
  failed: Type.Integer(),
  timeout: Type.Integer(),
  cancelled: Type.Integer(),
  by_status: Counts,
};

export const QueueStatsResponse = Type.Object({
  ...statusCounts,
  success_rate: Nullable(
    Type.Number({ description: 'completed / (completed + failed + timeout) over the tasks now stored' }),
  ),
  average_wait_seconds: Nullable(Type.Number({ description: 'Over `window`.' })),
  average_execution_seconds: Nullable(Type.Number({ description: 'Over `window`.' })),
  average_wait_time: Nullable(
    Type.Number({ description: 'The predecessor’s name for average_wait_seconds.' }),
  ),
  average_execution_time: Nullable(
    Type.Number({ description: 'The predecessor’s name for average_execution_seconds.' }),
  ),
  oldest_pending_age_seconds: Nullable(Type.Number()),
  window: WindowSchema,
});

export const TaskStatsResponse = Type.Object(
  {
    total: Type.Integer(),
    by_status: Counts,
    success_rate: Type.Number({
      description:
        'completed / (completed + failed + timeout) over the tasks now stored; 0 when none finished.',
    }),
    average_wait_seconds: Nullable(Type.Number({ description: 'Over `window`.' })),
    average_execution_seconds: Nullable(Type.Number({ description: 'Over `window`.' })),
    oldest_pending_age_seconds: Nullable(Type.Number()),
    window: WindowSchema,
    by_problem: Type.Array(
      Type.Object({
        problem_id: Type.String(),
        total: Type.Integer(),
        completed: Type.Integer(),
        failed: Type.Integer(),
        success_rate: Nullable(Type.Number()),
      }),
      { description: 'The 500 problems with the most tasks.' },
    ),
    // The predecessor's fields.
    total_tasks: Type.Integer(),
    pending_tasks: Type.Integer(),
    running_tasks: Type.Integer(),
    completed_tasks: Type.Integer(),
    failed_tasks: Type.Integer(),
    timeout_tasks: Type.Integer(),
    cancelled_tasks: Type.Integer(),
    avg_execution_time: Nullable(Type.Number({ description: 'Same as average_execution_seconds.' })),
    tasks_by_problem: Counts,
    tasks_by_worker: Type.Record(Type.String(), Type.Integer(), {
      description: 'Tasks per worker (finished and running), the 500 busiest workers.',
    }),
  },
  { additionalProperties: true },
);

export const WorkerStatsResponse = Type.Object({
  worker_id: Type.String(),
  tasks_completed: Type.Integer(),
  tasks_failed: Type.Integer({ description: 'failed + timeout' }),
  tasks_cancelled: Type.Integer(),
  tasks_running: Type.Integer(),
  tasks_total: Type.Integer(),
  success_rate: Type.Number({ description: 'completed / (completed + failed); 0 when none finished.' }),
  average_execution_seconds: Nullable(Type.Number({ description: 'Over `window`.' })),
  window: Type.Object({
    window: Type.Enum([...STATS_WINDOWS]),
    since: Nullable(Type.String({ format: 'date-time' })),
    completed: Type.Integer(),
    failed: Type.Integer(),
  }),
  // The predecessor's fields.
  total_tasks: Type.Integer(),
  average_task_duration: Nullable(Type.Number({ description: 'Same as average_execution_seconds.' })),
  uptime_seconds: Type.Number({ description: 'Since the worker registered.' }),
  current_status: Type.String(),
});
