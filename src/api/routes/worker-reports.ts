/**
 * What a worker reports about a task it holds: logs, complete, fail, release — translated to
 * the attempts service, which checks the fence first (worker id from the path and, when given,
 * the attempt from the claim), then settles that attempt's LLM calls, then ends it. A worker
 * that no longer holds the current attempt gets 409 with the queue's reason as the code.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { ClaimedAttempt } from '../../attempts/index.ts';
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
  ReportedTaskResponse,
  ReportsBody,
  ReportsResponse,
  WorkerParams,
  WorkerTaskParams,
} from '../schemas/workers.ts';
import type { RouteDeps, RouteOptions } from '../types.ts';
import { llmBaseUrl } from './workers.ts';

const tags = ['workers'];
const fencedErrors = errors(400, 409, 413, 422, 503);

/**
 * `claim_next`: after the report, the worker's next tasks in the same request (no waiting).
 * A claim that fails here does not undo the report: the worker just claims as usual.
 */
async function withNext<T extends object>(
  deps: RouteDeps,
  req: FastifyRequest,
  workerId: string,
  task: T,
  claim: { claim_next?: number | null; claim_id?: string | null },
): Promise<T & { next_tasks?: GatewayTask[] }> {
  if (!claim.claim_next) return task;
  const next = await deps.attempts
    .claim(workerId, claim.claim_next, llmBaseUrl(deps, req), claim.claim_id ?? null)
    .catch(() => []);
  return { ...task, next_tasks: next as GatewayTask[] };
}

/** With a base URL the attempts service always adds llm_base_url and llm_api_key. */
type GatewayTask = ClaimedAttempt & { llm_base_url: string; llm_api_key: string };

/** The seed's client repeats its id in the body; it must be the one in the path. */
function checkBodyWorker(pathId: string, bodyId: string | null | undefined): void {
  if (bodyId && bodyId !== pathId) throw invalid('worker_id', 'differs from the worker id in the path');
}

/** Fields of the report protocol itself: never part of a result. */
const PROTOCOL_FIELDS = ['worker_id', 'attempt', 'claim_next', 'claim_id'];

/**
 * The result a complete stores. Our clients send `{ attempt, result }`: the result is `result`.
 * The predecessor stored the whole body (its worker client sends `{ success, result,
 * execution_time }`, its documented example is `{ solution, confidence }`): any body with
 * fields besides `result` is stored whole, so those clients read back what they sent. The
 * protocol fields (worker_id, attempt, claim_next, claim_id) are never stored; a body with nothing else is null.
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
          200: described(
            'The task, completed (or cancelled when a cancel was requested); with `claim_next`, the tasks claimed next as `next_tasks`.',
            ReportedTaskResponse,
          ),
          ...fencedErrors,
        },
      },
    },
    async (req) => {
      const { id, task_id } = req.params;
      checkBodyWorker(id, req.body.worker_id);
      const task = await attempts.complete(id, task_id, req.body.attempt ?? null, completionResult(req.body));
      return withNext(deps, req, id, task, req.body);
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
            'The task: failed, or pending again when retry=true and attempts remain; with `claim_next`, the tasks claimed next as `next_tasks`.',
            ReportedTaskResponse,
          ),
          ...fencedErrors,
        },
      },
    },
    async (req) => {
      const { id, task_id } = req.params;
      checkBodyWorker(id, req.body.worker_id);
      const task = await attempts.fail(
        id,
        task_id,
        req.body.attempt ?? null,
        failureRecord(req.body),
        req.body.retry ?? false,
      );
      return withNext(deps, req, id, task, req.body);
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

  app.post(
    '/workers/:id/reports',
    {
      schema: {
        tags,
        summary: 'Report many held tasks at once, and claim the next ones in the same request',
        description:
          'Each report is fenced on its own (worker id from the path, `attempt` from its claim): a refused one (stale attempt, task moved on) gets `accepted: false` with the 409 code, and the others go through. Completions from every concurrent request are written by one statement. `claim_next` then claims up to that many tasks (no waiting), returned as `tasks`.',
        params: WorkerParams,
        body: ReportsBody,
        response: {
          200: described('One verdict per report, and the tasks claimed next.', ReportsResponse),
          ...errors(400, 404, 413, 422, 503),
        },
      },
    },
    async (req) => {
      const { id } = req.params;
      const ids = new Set(req.body.reports.map((r) => r.task_id));
      if (ids.size !== req.body.reports.length) throw invalid('reports', 'names a task twice');
      const verdicts = await attempts.reportMany(
        id,
        req.body.reports.map((r) =>
          r.outcome === 'complete'
            ? {
                task_id: r.task_id,
                attempt: r.attempt,
                outcome: 'complete',
                result: (r.result ?? null) as Json,
              }
            : {
                task_id: r.task_id,
                attempt: r.attempt,
                outcome: 'fail',
                error: failureRecord({ error_details: r.error_details }),
                retry: r.retry ?? false,
              },
        ),
      );
      const claimNext = req.body.claim_next ?? 0;
      const tasks = (
        claimNext > 0
          ? await attempts.claim(id, claimNext, llmBaseUrl(deps, req), req.body.claim_id ?? null)
          : []
      ) as GatewayTask[];
      return {
        results: verdicts.map((v) =>
          v.task
            ? { task_id: v.task_id, accepted: true, status: v.task.status }
            : { task_id: v.task_id, accepted: false, code: v.error?.code, error: v.error?.message },
        ),
        tasks,
      };
    },
  );
};
