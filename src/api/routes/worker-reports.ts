/**
 * What a worker reports about a task it holds: logs, complete, fail, release — translated to
 * the attempts service, which checks the fence first (worker id from the path and, when given,
 * the attempt from the claim), then settles that attempt's LLM calls, then ends it. A worker
 * that no longer holds the current attempt gets 409 with the queue's reason as the code.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Json, NewLog } from '../../queue/types.ts';
import { invalid } from '../errors.ts';
import { errors } from '../schemas/common.ts';
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

/** error_details as given; else the message the seed's client sends as error_message or error. */
function errorDetails(body: {
  error?: string | null;
  error_message?: string | null;
  error_details?: unknown;
}): Json {
  if (body.error_details !== undefined && body.error_details !== null) return body.error_details as Json;
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
        response: { 200: LogsAppendResponse, ...fencedErrors },
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
        params: WorkerTaskParams,
        body: CompleteBody,
        response: { 200: TaskSchema, ...fencedErrors },
      },
    },
    async (req) => {
      const { id, task_id } = req.params;
      checkBodyWorker(id, req.body.worker_id);
      return attempts.complete(id, task_id, req.body.attempt ?? null, (req.body.result ?? null) as Json);
    },
  );

  app.post(
    '/workers/:id/tasks/:task_id/fail',
    {
      schema: {
        tags,
        summary: 'Report failure (running → failed, or back to pending with retry=true)',
        description:
          'error_details is stored as given; without it, `{ message: error_message ?? error }`. A task whose cancel was requested ends cancelled.',
        params: WorkerTaskParams,
        body: FailBody,
        response: { 200: TaskSchema, ...fencedErrors },
      },
    },
    async (req) => {
      const { id, task_id } = req.params;
      checkBodyWorker(id, req.body.worker_id);
      return attempts.fail(
        id,
        task_id,
        req.body.attempt ?? null,
        errorDetails(req.body),
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
        response: { 200: TaskSchema, ...fencedErrors },
      },
    },
    (req) => {
      const { id, task_id } = req.params;
      checkBodyWorker(id, req.body.worker_id);
      return attempts.release(id, task_id, req.body.attempt ?? null);
    },
  );
};
