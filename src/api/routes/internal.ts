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
import { errors } from '../schemas/common.ts';
import type { RouteOptions } from '../types.ts';

const tags = ['internal workers'];

const PoolStatusSchema = Type.Object({
  enabled: Type.Boolean({ description: 'false when this server runs no internal worker pool.' }),
  running: Type.Boolean(),
  num_workers: Type.Integer(),
  backend_type: Type.String({ description: 'The backends the workers drive, comma-separated.' }),
  auto_start: Type.Boolean(),
  workers: Type.Array(
    Type.Object({
      worker_id: Type.String(),
      backend_type: Type.String(),
      state: Type.Enum(['starting', 'running', 'draining', 'stopped']),
      running_tasks: Type.Array(Type.String()),
    }),
  ),
});

const ScaleQuery = Type.Object({ num_workers: Type.Integer({ minimum: 0, maximum: 50 }) });

export const internalRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { pool, config } = deps;
  const withEnabled = (s: PoolStatus) => ({ enabled: true, ...s });
  const requirePool = (): WorkerPoolControl => {
    if (!pool) throw new ApiError('INTERNAL_WORKERS_DISABLED');
    return pool;
  };
  const response = { 200: PoolStatusSchema, ...errors(409, 422) };

  app.get(
    '/workers/internal/status',
    { schema: { tags, summary: 'State of the in-process worker pool', response } },
    () =>
      pool
        ? withEnabled(pool.status())
        : {
            enabled: false,
            running: false,
            num_workers: 0,
            backend_type: [...new Set(internalWorkerPlan(config).slots)].join(','),
            auto_start: false,
            workers: [],
          },
  );

  app.post(
    '/workers/internal/scale',
    {
      schema: {
        tags,
        summary: 'Set the number of in-process workers (0–50)',
        querystring: ScaleQuery,
        response,
      },
    },
    async (req) => withEnabled(await requirePool().scale(req.query.num_workers)),
  );

  app.post(
    '/workers/internal/start',
    { schema: { tags, summary: 'Start the in-process workers', response } },
    async () => withEnabled(await requirePool().start()),
  );

  app.post(
    '/workers/internal/stop',
    { schema: { tags, summary: 'Stop the in-process workers', response } },
    async () => withEnabled(await requirePool().stop()),
  );
};
