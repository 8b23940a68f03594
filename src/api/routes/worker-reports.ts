/**
 * What a worker reports about a task it holds: logs, complete, fail, release — translated to
 * the attempts service, which checks the fence first (worker id from the path and, when given,
 * the attempt from the claim), then settles that attempt's LLM calls, then ends it. A worker
 * that no longer holds the current attempt gets 409 with the queue's reason as the code.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Json, NewLog } from '../../queue/types.ts';
import { invalid } from '../errors.ts';
import { described, errors } from '../schemas/common.ts';
import { TaskSchema } from '../schemas/tasks.ts';
import {
  CompleteBody,
  FailBody,
  LogsAppendBody,
  LogsAppendResponse,
  ReleaseBody,
  WorkerTaskParams,
} from '../schemas/workers.ts';
import type { RouteOptions } from '../types.ts';

const tags = ['workers'];
const fencedErrors = errors(400, 409, 413, 422, 503);

/** The seed's client repeats its id in the body; it must be the one in the path. */
function checkBodyWorker(pathId: string, bodyId: string | null | undefined): void {
  if (bodyId && bodyId !== pathId) throw invalid('worker_id', 'differs from the worker id in the path');
}

/** Fields of the report protocol itself: never part of a result. */
const PROTOCOL_FIELDS = ['worker_id', 'attempt'];

/**
 * The result a complete stores. Our clients send `{ attempt, result }`: the result is `result`.
 * The predecessor stored the whole body (its worker client sends `{ success, result,
 * execution_time }`, its documented example is `{ solution, confidence }`): any body with
 * fields besides `result` is stored whole, so those clients read back what they sent. The
 * protocol fields (worker_id, attempt) are never stored; a body with nothing else is null.
 */
export function completionResult(body: Record<string, unknown>): Json {
  const rest = Object.entries(body).filter(([k, v]) => !PROTOCOL_FIELDS.includes(k) && v !== undefined);
  if (rest.length === 0) return null;
  if (rest.length === 1 && rest[0]![0] === 'result') return rest[0]![1] as Json;
  return Object.fromEntries(rest) as Json;
}

/**
 * The structured error a fail stores (served as `error_info`, and as text in `error_details`):
 * error_details as given when it is an object; a text one, or the message the predecessor's
 * client sends as `error` (or `error_message`), becomes `{ message }`.
 */
export function failureRecord(body: {
  error?: string | null;
  error_message?: string | null;
  error_details?: unknown;
}): Json {
  const given = body.error_details;
  if (typeof given === 'string') return { message: given };
  if (given !== undefined && given !== null) return given as Json;
  return { message: body.error_message ?? body.error ?? 'Task failed' };
}

export const workerReportRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { attempts } = deps;

  app.post(
    '/workers/:id/tasks/:task_id/logs',
    {
      schema: {
        tags,
        summary: 'Append a batch of log entries (at most 1000) to a held task',
        params: WorkerTaskParams,
        body: LogsAppendBody,
        response: { 200: described('Appended: how many entries.', LogsAppendResponse), ...fencedErrors },
      },
    },
    async (req) => {
      const { id, task_id } = req.params;
      checkBodyWorker(id, req.body.worker_id);
      const logs: NewLog[] = req.body.logs.map((l) => ({
        level: l.level,
        message: l.message,
        context: (l.context ?? null) as Json,
        source: l.source ?? undefined,
        timestamp: l.timestamp ?? undefined,
      }));
      const accepted = await attempts.appendLogs(id, task_id, req.body.attempt ?? null, logs);
      return { accepted };
    },
  );

  app.post(
    '/workers/:id/tasks/:task_id/complete',
    {
      schema: {
        tags,
        summary: 'Report success (running → completed)',
        description:
          'The result stored is `result` when the body holds nothing else (besides worker_id and attempt); any other body is stored whole, as the predecessor did (e.g. `{ success, result, execution_time }`). A task whose cancel was requested ends cancelled, keeping the result.',
        params: WorkerTaskParams,
        body: CompleteBody,
        response: {
          200: described('The task, completed (or cancelled when a cancel was requested).', TaskSchema),
          ...fencedErrors,
        },
      },
    },
    async (req) => {
      const { id, task_id } = req.params;
      checkBodyWorker(id, req.body.worker_id);
      return attempts.complete(id, task_id, req.body.attempt ?? null, completionResult(req.body));
    },
  );

  app.post(
    '/workers/:id/tasks/:task_id/fail',
    {
      schema: {
        tags,
        summary: 'Report failure (running → failed, or back to pending with retry=true)',
        description:
          'The task shows the error as text in `error_details` and structured in `error_info`: an object `error_details` is kept as given; a text one, or `error` / `error_message`, becomes `{ message }`. A task whose cancel was requested ends cancelled.',
        params: WorkerTaskParams,
        body: FailBody,
        response: {
          200: described(
            'The task: failed, or pending again when retry=true and attempts remain.',
            TaskSchema,
          ),
          ...fencedErrors,
        },
      },
    },
    async (req) => {
      const { id, task_id } = req.params;
      checkBodyWorker(id, req.body.worker_id);
      return attempts.fail(
        id,
        task_id,
        req.body.attempt ?? null,
        failureRecord(req.body),
        req.body.retry ?? false,
      );
    },
  );

  app.post(
    '/workers/:id/tasks/:task_id/release',
    {
      schema: {
        tags,
        summary: 'Give a running task back to the queue (graceful shutdown)',
        description: 'The attempt is not charged. A task whose cancel was requested ends cancelled instead.',
        params: WorkerTaskParams,
        body: ReleaseBody,
        response: {
          200: described('The task, pending again (or cancelled when a cancel was requested).', TaskSchema),
          ...fencedErrors,
        },
      },
    },
    (req) => {
      const { id, task_id } = req.params;
      checkBodyWorker(id, req.body.worker_id);
      return attempts.release(id, task_id, req.body.attempt ?? null);
    },
  );
};
