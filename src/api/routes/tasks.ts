/** /api/v1/tasks: submit (one or a batch), list, read, cancel, logs, stats. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { isCallbackDelivery } from '../../callbacks/signature.ts';
import { QueueError } from '../../queue/errors.ts';
import { logIdToSeq } from '../../queue/rows.ts';
import type { TaskSort } from '../../queue/tasks.ts';
import type { LogLevel, Task } from '../../queue/types.ts';
import { ApiError, invalid } from '../errors.ts';
import { resolvePage } from '../pagination.ts';
import { described, errors, IdParams } from '../schemas/common.ts';
import { TaskStatsResponse, WindowQuery } from '../schemas/stats.ts';
import {
  BatchResponse,
  CancelResponse,
  LogsQuery,
  LogsResponse,
  TaskBatchBody,
  TaskCreateBody,
  TaskCreateHeaders,
  TaskGetQuery,
  TaskListQuery,
  TaskListResponse,
  TaskSchema,
  TaskWithLogs,
} from '../schemas/tasks.ts';
import { logCancelled, submitLogger } from '../task-events.ts';
import { toNewTask } from '../task-input.ts';
import type { RouteDeps, RouteOptions } from '../types.ts';

const tags = ['tasks'];
/** The predecessor's default page. */
const DEFAULT_PAGE_SIZE = 20;
const INCLUDED_LOGS = 1000;

/** 409 for a request the callback dispatcher sent: a callback_url aimed at this API would loop. */
async function refuseCallbackLoop(req: FastifyRequest): Promise<void> {
  if (isCallbackDelivery(req.headers)) throw new ApiError('CALLBACK_LOOP');
}

/**
 * `label=key=value` (repeatable; `key:value` when there is no '=') → { key: value }. A key
 * asked for twice with two values could match nothing, so that is refused.
 */
export function parseLabelFilter(list: readonly string[] = []): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of list) {
    const eq = item.includes('=') ? item.indexOf('=') : item.indexOf(':');
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (key in labels && labels[key] !== value)
      throw invalid('label', `key "${key}" is given twice`, {}, 'query');
    labels[key] = value;
  }
  return labels;
}

/** `sort=-created_at` (the predecessor's values) → the column and direction; the schema checked it. */
export function parseSort(sort: string | undefined): TaskSort {
  const s = sort ?? '-created_at';
  const desc = s.startsWith('-');
  return { column: (desc ? s.slice(1) : s) as TaskSort['column'], desc };
}

/** A finished task cannot be cancelled: 400, as the predecessor answered (the queue says TASK_ALREADY_TERMINAL). */
async function cancelOrRefuse(deps: RouteDeps, id: string) {
  try {
    return await deps.queue.cancel(id);
  } catch (err) {
    if (err instanceof QueueError && err.code === 'TASK_ALREADY_TERMINAL')
      throw new ApiError('TASK_NOT_CANCELLABLE', err.message, err.details);
    throw err;
  }
}

export const taskRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { queue, config } = deps;
  const logSubmitted = submitLogger(app.log, queue);

  app.post(
    '/tasks',
    {
      schema: {
        tags,
        summary: 'Submit a task',
        description:
          'Returns 201 with the new task, or 200 with the existing one when the idempotency key (body field or `Idempotency-Key` header) was used before.',
        body: TaskCreateBody,
        headers: TaskCreateHeaders,
        response: {
          200: described(
            'The task made earlier with the same idempotency key (nothing created).',
            TaskSchema,
          ),
          201: described('Created: the new task, pending.', TaskSchema),
          ...errors(400, 409, 413, 422, 503),
        },
      },
      // Before the body is validated: a callback delivery of any shape must not create tasks.
      preValidation: refuseCallbackLoop,
    },
    async (req, reply) => {
      const input = toNewTask(req.body, config, { header: req.headers['idempotency-key'] });
      const results = await queue.submit([input]);
      logSubmitted(req.log, results);
      const created = results[0];
      return reply.code(created!.created ? 201 : 200).send(created!.task);
    },
  );

  app.post(
    '/tasks/batch',
    {
      schema: {
        tags,
        summary: 'Submit up to 1000 tasks in one transaction',
        description:
          'Each item has the shape of a single submit. With an `Idempotency-Key` header, an item without its own key gets `<header>#<index>`, so retrying the same batch returns the same tasks.',
        body: TaskBatchBody,
        headers: TaskCreateHeaders,
        response: {
          201: described(
            'The tasks in request order; `created` and `existing` (matched an earlier idempotency key) count them.',
            BatchResponse,
          ),
          ...errors(400, 409, 413, 422, 503),
        },
      },
      // Before the body is validated: a callback delivery of any shape must not create tasks.
      preValidation: refuseCallbackLoop,
    },
    async (req, reply) => {
      const header = req.headers['idempotency-key'];
      const inputs = req.body.tasks.map((t, i) =>
        toNewTask(t, config, { fallback: header === undefined ? undefined : `${header}#${i}` }),
      );
      const results = await queue.submit(inputs);
      logSubmitted(req.log, results);
      const created = results.filter((r) => r.created).length;
      return reply.code(201).send({
        tasks: results.map((r) => r.task),
        created,
        existing: results.length - created,
      });
    },
  );

  app.get(
    '/tasks',
    {
      schema: {
        tags,
        summary: 'List tasks, newest first (or by `sort`)',
        querystring: TaskListQuery,
        response: {
          200: described('A page of tasks with the paging fields.', TaskListResponse),
          ...errors(422, 503),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const page = resolvePage(q, DEFAULT_PAGE_SIZE);
      const { tasks, total } = await queue.listTasks({
        status: q.status,
        problem_id: q.problem_id,
        worker_id: q.worker_id,
        backend_type: q.backend_type,
        labels: parseLabelFilter(q.label),
        experiment_id: q.experiment_id,
        group_id: q.group_id,
        policy_version: q.policy_version,
        policy_version_min: q.policy_version_min,
        policy_version_max: q.policy_version_max,
        sort: parseSort(q.sort),
        limit: page.limit,
        offset: page.offset,
      });
      return { tasks, total, ...page };
    },
  );

  app.get(
    '/tasks/stats',
    {
      schema: {
        tags,
        summary: 'Counts by status, success rate, timings, per-problem and per-worker breakdown',
        description:
          'Counts are exact and current; averages cover `window` (default the last hour), said in the response.',
        querystring: WindowQuery,
        response: { 200: described('Task counts and timings.', TaskStatsResponse), ...errors(422, 503) },
      },
    },
    async (req) => {
      const s = await queue.taskStats(true, req.query.window ?? '1h');
      const c = s.by_status;
      return {
        ...s,
        success_rate: s.success_rate ?? 0,
        total_tasks: s.total,
        pending_tasks: c.pending,
        running_tasks: c.running,
        completed_tasks: c.completed,
        failed_tasks: c.failed,
        timeout_tasks: c.timeout,
        cancelled_tasks: c.cancelled,
        avg_execution_time: s.average_execution_seconds,
        tasks_by_problem: Object.fromEntries(s.by_problem.map((p) => [p.problem_id, p.total])),
        tasks_by_worker: s.by_worker,
      };
    },
  );

  app.get(
    '/tasks/:id',
    {
      schema: {
        tags,
        summary: 'Read one task',
        params: IdParams,
        querystring: TaskGetQuery,
        response: {
          200: described('The task (with `logs` when include_logs=true).', TaskWithLogs),
          ...errors(404, 422, 503),
        },
      },
    },
    async (req) => {
      const task = await queue.mustGetTask(req.params.id);
      const waiting = task.status === 'pending' ? { waiting_reason: await queue.waitingReason(task) } : {};
      if (!req.query.include_logs) return { ...task, ...waiting };
      const logs = await queue.readLogs(task.id, { limit: INCLUDED_LOGS, order: 'newest' });
      return { ...task, ...waiting, logs };
    },
  );

  const cancel = async (id: string, log: FastifyBaseLogger) => {
    const { task, outcome } = await cancelOrRefuse(deps, id);
    logCancelled(log, task, outcome);
    // task_id and message: the predecessor's documented answer, beside the task it returned.
    const message =
      outcome === 'cancelled'
        ? 'Task cancelled successfully'
        : 'Cancel requested: the worker is told to stop';
    return { ...task, outcome, task_id: task.id, message } as Task & {
      outcome: typeof outcome;
      task_id: string;
      message: string;
    };
  };
  const cancelSchema = {
    tags,
    params: IdParams,
    response: {
      200: described('The task after the cancel; `outcome` says what happened.', CancelResponse),
      ...errors(400, 404, 422, 503),
    },
  };
  app.post(
    '/tasks/:id/cancel',
    {
      schema: {
        ...cancelSchema,
        summary: 'Cancel a task',
        description:
          'A pending task ends cancelled at once; a running one is asked to stop, and ends `cancelled` however its worker reports next. 400 when already finished.',
      },
    },
    (req) => cancel(req.params.id, req.log),
  );
  app.delete(
    '/tasks/:id',
    { schema: { ...cancelSchema, summary: 'Cancel a task (same as POST /cancel)' } },
    (req) => cancel(req.params.id, req.log),
  );

  app.get(
    '/tasks/:id/logs',
    {
      schema: {
        tags,
        summary: 'Read task logs',
        description:
          'Without `after`: the most recent `limit` entries, in time order. With `after`: the entries after that cursor. `next_after` continues either.',
        params: IdParams,
        querystring: LogsQuery,
        response: {
          200: described('Log entries, oldest first, and the cursor to read on.', LogsResponse),
          ...errors(404, 422, 503),
        },
      },
      // Levels in any case (the predecessor's clients send INFO): compared lower-case.
      preValidation: async (req) => {
        const q = req.query as { level?: unknown };
        if (typeof q.level === 'string') q.level = q.level.toLowerCase();
      },
    },
    async (req) => {
      const { id } = req.params;
      const q = req.query;
      await queue.mustGetTask(id);
      const after = q.after === undefined ? undefined : (logIdToSeq(q.after) ?? Number(q.after));
      const logs = await queue.readLogs(id, {
        levels: q.level ? (q.level.split(',') as LogLevel[]) : undefined,
        sources: q.source?.split(','),
        since: q.since,
        after,
        limit: q.limit ?? 100,
        order: after === undefined ? 'newest' : 'oldest',
      });
      // total: the entries in this answer, as the predecessor counted them.
      return { task_id: id, logs, total: logs.length, next_after: logs.at(-1)?.seq ?? after ?? 0 };
    },
  );
};
