/** /api/v1/workers: registration, reads, heartbeats and the claim (long-poll). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import type { ClaimedAttempt } from '../../attempts/index.ts';
import type { Lease, WorkerRegistration } from '../../queue/types.ts';
import { invalid } from '../errors.ts';
import { LongPollDispatcher } from '../long-poll.ts';
import { described, errors } from '../schemas/common.ts';
import { WindowQuery, WorkerStatsResponse } from '../schemas/stats.ts';
import {
  ClaimBody,
  ClaimQuery,
  ClaimResponse,
  HeartbeatAnyBody,
  HeartbeatBody,
  HeartbeatResponse,
  RegisterBody,
  WorkerListQuery,
  WorkerListResponse,
  WorkerParams,
  WorkerSchema,
} from '../schemas/workers.ts';
import type { RouteDeps, RouteOptions } from '../types.ts';

const tags = ['workers'];

/** Where a worker's agents reach the gateway: where the worker reached us, unless configured. */
export function llmBaseUrl(deps: RouteDeps, req: FastifyRequest): string {
  return deps.config.LLM_GATEWAY_URL || `${req.protocol}://${req.host}/llm/v1`;
}

/** The claim's answer: the predecessor's (one task or null), or with `max_tasks` the batch form. */
function claimAnswer(tasks: ClaimedAttempt[], batch: boolean) {
  if (!batch) return tasks[0] ?? null;
  return tasks.length > 0 ? { ...tasks[0]!, tasks } : { tasks };
}

/** `worker_id` and `id` are both accepted (the seed's clients use either); two different ones are refused. */
export function pickWorkerId(body: { worker_id?: string | null; id?: string | null }): string | undefined {
  const { worker_id, id } = body;
  if (worker_id && id && worker_id !== id) throw invalid('id', 'differs from worker_id');
  return worker_id ?? id ?? undefined;
}

function toRegistration(body: Static<typeof RegisterBody>, pattern: string): WorkerRegistration {
  const id = pickWorkerId(body);
  if (!id) throw invalid('worker_id', 'is required (or id)');
  if (!new RegExp(pattern).test(id)) throw invalid('worker_id', `must match ${pattern}`, { pattern });
  const caps = body.capabilities ?? {};
  return {
    id,
    backend_type: body.backend_type ?? 'command',
    capabilities: {
      ...(caps as Record<string, never>),
      max_parallel_tasks: body.max_parallel_tasks ?? caps.max_parallel_tasks ?? 1,
      supported_problems: body.supported_problems ?? caps.supported_problems ?? [],
    },
    metadata: (body.metadata ?? {}) as WorkerRegistration['metadata'],
  };
}

/**
 * tasks given: extend exactly those (the rest come back as lost). current_task_id given (the
 * predecessor's heartbeat): extend that task at its current attempt; when this worker no
 * longer holds it, the heartbeat still succeeds and the task comes back in lost_task_ids.
 * Neither: extend every lease the worker holds. The answer is the worker (what the
 * predecessor returned) with the lease report beside it.
 */
async function heartbeat(deps: RouteDeps, workerId: string, body: Static<typeof HeartbeatBody>) {
  const { queue } = deps;
  let leases: Lease[] | null = body.tasks ?? null;
  const current = body.tasks ? null : (body.current_task_id ?? null);
  if (current) leases = [{ task_id: current, attempt: (await queue.getTask(current))?.attempt ?? 0 }];
  const r = await queue.heartbeat(workerId, body.status ?? undefined, leases, body.status_reason);
  return {
    ...r.worker,
    acknowledged: true,
    message: 'Heartbeat received',
    timestamp: r.worker.last_heartbeat,
    lease_seconds: deps.config.LEASE_SECONDS,
    extended: r.extended,
    lost_task_ids: r.lost,
    cancel_task_ids: r.cancel_requested,
  };
}

export const workerRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { queue, config } = deps;
  // One per replica: parked claims share its wake-ups and its one poll timer.
  const dispatcher = new LongPollDispatcher(deps.attempts, queue, config.WORKER_POLL_INTERVAL * 1000);
  app.addHook('onClose', async () => dispatcher.close());

  app.post(
    '/workers/register',
    {
      schema: {
        tags,
        summary: 'Register (or re-register) a worker',
        description: `201 with the worker, a first registration or not (as the predecessor answered). The id comes from \`worker_id\` or \`id\` and must match WORKER_ID_PATTERN (now ${config.WORKER_ID_PATTERN}).`,
        body: RegisterBody,
        response: {
          201: described('The worker, registered (a first registration or not).', WorkerSchema),
          ...errors(400, 422, 503),
        },
      },
    },
    async (req, reply) => {
      const worker = await queue.registerWorker(toRegistration(req.body, config.WORKER_ID_PATTERN));
      dispatcher.forget(worker.id);
      return reply.code(201).send(worker);
    },
  );

  app.get(
    '/workers',
    {
      schema: {
        tags,
        summary: 'List workers',
        querystring: WorkerListQuery,
        response: {
          200: described('The workers and their number.', WorkerListResponse),
          ...errors(422, 503),
        },
      },
    },
    async (req) => {
      const workers = await queue.listWorkers(req.query);
      return { workers, total: workers.length };
    },
  );

  const heartbeatSchema = {
    tags,
    response: {
      200: described(
        'The worker and its lease report: tasks to stop are in `lost_task_ids` and `cancel_task_ids`.',
        HeartbeatResponse,
      ),
      ...errors(404, 422, 503),
    },
  };
  app.post(
    '/workers/heartbeat',
    {
      schema: {
        ...heartbeatSchema,
        summary: 'Heartbeat with the worker id in the body',
        body: HeartbeatAnyBody,
      },
    },
    (req) => {
      const id = pickWorkerId(req.body);
      if (!id) throw invalid('worker_id', 'is required (or id)');
      return heartbeat(deps, id, req.body);
    },
  );

  app.get(
    '/workers/:id',
    {
      schema: {
        tags,
        summary: 'Read one worker',
        params: WorkerParams,
        response: { 200: described('The worker.', WorkerSchema), ...errors(404, 503) },
      },
    },
    (req) => queue.mustGetWorker(req.params.id),
  );

  app.get(
    '/workers/:id/stats',
    {
      schema: {
        tags,
        summary: 'Success rate and average run time of one worker',
        description: 'Counts are all-time; the average covers `window` (default the last hour).',
        params: WorkerParams,
        querystring: WindowQuery,
        response: {
          200: described('The worker’s counts and timings.', WorkerStatsResponse),
          ...errors(404, 422, 503),
        },
      },
    },
    async (req) => {
      const worker = await queue.mustGetWorker(req.params.id);
      const s = await queue.workerStats(req.params.id, req.query.window ?? '1h');
      return {
        ...s,
        success_rate: s.success_rate ?? 0,
        total_tasks: s.tasks_total,
        average_task_duration: s.average_execution_seconds,
        uptime_seconds: Math.max(0, (Date.now() - Date.parse(worker.registered_at)) / 1000),
        current_status: worker.status,
      };
    },
  );

  app.post(
    '/workers/:id/heartbeat',
    {
      schema: {
        ...heartbeatSchema,
        summary: 'Heartbeat: liveness and lease extension',
        params: WorkerParams,
        body: HeartbeatBody,
      },
    },
    (req) => heartbeat(deps, req.params.id, req.body),
  );

  app.post(
    '/workers/:id/claim',
    {
      schema: {
        tags,
        summary: 'Claim the next task (200 with the task, or 200 null), or up to `max_tasks`',
        description:
          '`wait` (seconds, ≤ 60) long-polls: the call returns as soon as a task can be claimed. The task carries `attempt`, the fencing token for the calls that report on it, and `llm_base_url`/`llm_api_key`, the gateway address and this attempt’s token for its agent. No body is needed; one may carry only `worker_id` (or `id`).',
        params: WorkerParams,
        querystring: ClaimQuery,
        body: ClaimBody,
        response: {
          200: described(
            'The claimed task with its gateway URL and token (`llm_base_url`, `llm_api_key`), or null when none is pending for this worker.',
            ClaimResponse,
          ),
          ...errors(404, 422, 503),
        },
      },
    },
    async (req, reply) => {
      const gone = new AbortController();
      // 'close' before the reply is written means the client went away: stop waiting for it.
      reply.raw.once('close', () => {
        if (!reply.raw.writableEnded) gone.abort();
      });
      const signal = AbortSignal.any([gone.signal, deps.closing]);
      const batch = req.body?.max_tasks != null;
      const tasks = await dispatcher.claim(
        {
          workerId: req.params.id,
          max: req.body?.max_tasks ?? 1,
          // The worker reached us at this address, so its agents can reach the gateway here too.
          llmBaseUrl: llmBaseUrl(deps, req),
          claimKey: req.query.claim_id ?? null,
          waitMs: (req.query.wait ?? 0) * 1000,
        },
        signal,
      );
      // send(null) explicitly: returning null from an async handler would mean "no reply".
      return reply.send(claimAnswer(tasks, batch) as never);
    },
  );
};
