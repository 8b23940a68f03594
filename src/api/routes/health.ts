/** Health and monitoring: GET /, /health, /queue/stats, /metrics. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pingDatabase } from '../../queue/health.ts';
import type { TaskStatus, WorkerStatus } from '../../queue/types.ts';
import { isDbDown } from '../errors.ts';
import { errors, Nullable } from '../schemas/common.ts';
import type { RouteDeps, RouteOptions } from '../types.ts';

const tags = ['health'];
const Counts = Type.Record(Type.String(), Type.Integer());

const HealthResponse = Type.Object({
  status: Type.Enum(['healthy', 'degraded', 'unhealthy'], {
    description: 'degraded: no worker is idle, busy or draining; unhealthy (503): no database.',
  }),
  database: Type.Object({ ok: Type.Boolean(), latency_ms: Nullable(Type.Number()), kind: Type.String() }),
  workers: Counts,
  queue: Counts,
  unroutable_pending: Type.Integer({
    description:
      'Pending tasks that no live worker can run (its backend_type or problem is offered by none); they wait, they are not failed.',
  }),
  version: Type.String(),
});

const QueueStatsResponse = Type.Object({
  total: Type.Integer(),
  pending: Type.Integer(),
  running: Type.Integer(),
  completed: Type.Integer(),
  failed: Type.Integer(),
  timeout: Type.Integer(),
  cancelled: Type.Integer(),
  by_status: Counts,
  success_rate: Nullable(Type.Number({ description: 'completed / (completed + failed + timeout)' })),
  average_wait_seconds: Nullable(Type.Number()),
  average_execution_seconds: Nullable(Type.Number()),
  oldest_pending_age_seconds: Nullable(Type.Number()),
});

const EMPTY_WORKERS: Record<WorkerStatus, number> = { idle: 0, busy: 0, offline: 0, draining: 0 };

async function health(deps: RouteDeps) {
  const { queue, version } = deps;
  const kind = queue.db.kind;
  try {
    const latency = await pingDatabase(queue.db);
    const [stats, workers, unroutable] = await Promise.all([
      queue.taskStats(false),
      queue.workerCountsByStatus(),
      queue.unroutablePending(),
    ]);
    const serving = workers.idle + workers.busy + workers.draining;
    return {
      code: 200 as const,
      body: {
        status: serving > 0 ? ('healthy' as const) : ('degraded' as const),
        database: { ok: true, latency_ms: Math.round(latency * 100) / 100, kind },
        workers,
        queue: stats.by_status as Record<TaskStatus, number>,
        unroutable_pending: unroutable.reduce((n, u) => n + u.count, 0),
        version,
      },
    };
  } catch (err) {
    if (!isDbDown(err)) throw err;
    return {
      code: 503 as const,
      body: {
        status: 'unhealthy' as const,
        database: { ok: false, latency_ms: null, kind },
        workers: EMPTY_WORKERS,
        queue: {},
        unroutable_pending: 0,
        version,
      },
    };
  }
}

export const healthRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { queue, version } = deps;

  app.get(
    '/',
    {
      schema: {
        tags,
        summary: 'Service metadata and links',
        response: {
          200: Type.Object({
            name: Type.String(),
            version: Type.String(),
            docs: Type.String({ description: '/docs, or /openapi.json when ENABLE_DOCS is off.' }),
            health: Type.String(),
            links: Type.Record(Type.String(), Type.String()),
          }),
        },
      },
    },
    () => ({
      name: 'Task Executor',
      version,
      // docs and health at the top level, as the predecessor answered.
      docs: deps.config.ENABLE_DOCS ? '/docs' : '/openapi.json',
      health: '/health',
      links: {
        api: '/api/v1',
        health: '/health',
        queue_stats: '/queue/stats',
        metrics: '/metrics',
        openapi: '/openapi.json',
        ready: '/ready',
        ...(deps.config.ENABLE_DOCS ? { docs: '/docs', redoc: '/redoc' } : {}),
      },
    }),
  );

  app.get(
    '/health',
    {
      schema: {
        tags,
        summary: 'Database, workers and queue at a glance',
        response: { 200: HealthResponse, 503: HealthResponse },
      },
    },
    async (_req, reply) => {
      const { code, body } = await health(deps);
      return reply.code(code).send(body);
    },
  );

  app.get(
    '/queue/stats',
    {
      schema: {
        tags,
        summary: 'Counts per status, success rate, wait and run times, oldest pending age',
        response: { 200: QueueStatsResponse, ...errors(503) },
      },
    },
    async () => {
      const s = await queue.taskStats(false);
      return {
        total: s.total,
        ...s.by_status,
        by_status: s.by_status,
        success_rate: s.success_rate,
        average_wait_seconds: s.average_wait_seconds,
        average_execution_seconds: s.average_execution_seconds,
        oldest_pending_age_seconds: s.oldest_pending_age_seconds,
      };
    },
  );

  app.get(
    '/metrics',
    { schema: { tags, summary: 'Prometheus exposition', produces: ['text/plain'] } },
    async (_req, reply) => {
      const text = await deps.metrics.render();
      return reply.type(deps.metrics.registry.contentType).send(text);
    },
  );
};
