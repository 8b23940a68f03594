/**
 * /api/v1/workers/internal/*: the in-process worker pool. These static paths are matched
 * before `/workers/:id/...` (the router prefers static segments), so no worker id can shadow them.
 * Without a pool (internal workers disabled) status still answers, and changes get 409.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { internalWorkerPlan } from '../../worker/manager.ts';
import type { PoolStatus, WorkerPoolControl } from '../../worker/pool.ts';
import { ApiError } from '../errors.ts';
import { described, errors, Nullable } from '../schemas/common.ts';
import type { RouteOptions } from '../types.ts';

const tags = ['internal workers'];

const PoolWorker = Type.Object({
  worker_id: Type.String(),
  backend_type: Type.String(),
  state: Type.Enum(['starting', 'running', 'unavailable', 'draining', 'stopped']),
  running_tasks: Type.Array(Type.String()),
  status_reason: Type.Optional(
    Nullable(Type.String({ description: 'Why the worker claims nothing (state `unavailable`), else null.' })),
  ),
  current_task: Nullable(Type.String()),
  // The predecessor's per-worker fields.
  status: Type.String({ description: 'idle, busy, starting, unavailable, draining or stopped.' }),
  has_executor: Type.Boolean({ description: 'The worker is started (not stopped).' }),
});

const poolFields = {
  enabled: Type.Boolean({ description: 'false when this server runs no internal worker pool.' }),
  running: Type.Boolean(),
  num_workers: Type.Integer(),
  backend_type: Type.String({ description: 'The backends the workers drive, comma-separated.' }),
  auto_start: Type.Boolean(),
  worker_list: Type.Array(PoolWorker, { description: 'The workers in id order.' }),
};
const WorkerMap = Type.Record(Type.String(), PoolWorker, {
  description: 'The workers by id (the predecessor’s shape; worker_list has them in order).',
});
const StatusResponse = Type.Object({ ...poolFields, workers: WorkerMap });
const ScaleResponse = Type.Object({
  ...poolFields,
  workers: WorkerMap,
  status: Type.Literal('scaled'),
  message: Type.String(),
  previous_workers: Type.Integer(),
  current_workers: Type.Integer(),
  previous_count: Type.Integer(),
  new_count: Type.Integer(),
});
const StopResponse = Type.Object({
  ...poolFields,
  workers: WorkerMap,
  status: Type.Literal('stopped'),
  message: Type.String(),
  stopped_count: Type.Integer(),
});
// The predecessor's start answered `workers` as a count, unlike the other three.
const StartResponse = Type.Object({
  ...poolFields,
  workers: Type.Integer({ description: 'How many workers run now (worker_list has them).' }),
  status: Type.Literal('started'),
  message: Type.String(),
  worker_count: Type.Integer(),
});

function poolView(s: PoolStatus) {
  const list = s.workers.map((w) => ({
    ...w,
    current_task: w.running_tasks[0] ?? null,
    status: w.running_tasks.length > 0 ? 'busy' : w.state === 'running' ? 'idle' : w.state,
    has_executor: w.state !== 'stopped',
  }));
  const { workers: _list, ...rest } = s;
  return {
    fields: { enabled: true, ...rest, worker_list: list },
    map: Object.fromEntries(list.map((w) => [w.worker_id, w])),
  };
}

const started = (s: PoolStatus) => s.workers.filter((w) => w.state !== 'stopped').length;

const ScaleQuery = Type.Object({ num_workers: Type.Integer({ minimum: 0, maximum: 50 }) });

export const internalRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { pool, config } = deps;
  const requirePool = (): WorkerPoolControl => {
    if (!pool) throw new ApiError('INTERNAL_WORKERS_DISABLED');
    return pool;
  };
  const refusals = errors(409, 422);

  app.get(
    '/workers/internal/status',
    {
      schema: {
        tags,
        summary: 'State of the in-process worker pool',
        response: { 200: described('The pool and each of its workers.', StatusResponse) },
      },
    },
    () => {
      if (!pool)
        return {
          enabled: false,
          running: false,
          num_workers: 0,
          backend_type: [...new Set(internalWorkerPlan(config).slots)].join(','),
          auto_start: false,
          worker_list: [],
          workers: {},
        };
      const v = poolView(pool.status());
      return { ...v.fields, workers: v.map };
    },
  );

  app.post(
    '/workers/internal/scale',
    {
      schema: {
        tags,
        summary: 'Set the number of in-process workers (0–50)',
        querystring: ScaleQuery,
        response: { 200: described('The pool after scaling.', ScaleResponse), ...refusals },
      },
    },
    async (req) => {
      const p = requirePool();
      const previous = p.status().num_workers;
      const v = poolView(await p.scale(req.query.num_workers));
      const current = v.fields.num_workers;
      return {
        ...v.fields,
        workers: v.map,
        status: 'scaled' as const,
        message: `Workers scaled from ${previous} to ${current}`,
        previous_workers: previous,
        current_workers: current,
        previous_count: previous,
        new_count: current,
      };
    },
  );

  app.post(
    '/workers/internal/start',
    {
      schema: {
        tags,
        summary: 'Start the in-process workers',
        response: { 200: described('The pool, started.', StartResponse), ...refusals },
      },
    },
    async () => {
      const s = await requirePool().start();
      const n = started(s);
      return {
        ...poolView(s).fields,
        workers: n,
        status: 'started' as const,
        message: 'Workers started',
        worker_count: n,
      };
    },
  );

  app.post(
    '/workers/internal/stop',
    {
      schema: {
        tags,
        summary: 'Stop the in-process workers',
        response: { 200: described('The pool, stopped.', StopResponse), ...refusals },
      },
    },
    async () => {
      const p = requirePool();
      const before = started(p.status());
      const v = poolView(await p.stop());
      return {
        ...v.fields,
        workers: v.map,
        status: 'stopped' as const,
        message: 'All internal workers stopped',
        stopped_count: before,
      };
    },
  );
};
