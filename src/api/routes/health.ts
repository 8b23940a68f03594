/** Health and monitoring: GET /, /health, /queue/stats, /metrics. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pingDatabase } from '../../queue/health.ts';
import type { TaskStatus, WorkerStatus } from '../../queue/types.ts';
import { prefersHtml } from '../accept.ts';
import { isDbDown } from '../errors.ts';
import { described, errors, Nullable } from '../schemas/common.ts';
import { QueueStatsResponse, WindowQuery } from '../schemas/stats.ts';
import type { RouteDeps, RouteOptions } from '../types.ts';

const tags = ['health'];
const Counts = Type.Record(Type.String(), Type.Integer());

const HealthResponse = Type.Object({
  status: Type.Enum(['healthy', 'degraded', 'unhealthy'], {
    description:
      'degraded: no worker is idle, busy or draining, or a pending task has no worker that can run it, or an in-process worker cannot run its backend (`warnings` says which); unhealthy (503): no database.',
  }),
  timestamp: Type.String({ format: 'date-time' }),
  database: Type.Object({
    ok: Type.Boolean(),
    connected: Type.Boolean({ description: 'The predecessor’s name for ok.' }),
    latency_ms: Nullable(Type.Number()),
    kind: Type.String(),
  }),
  workers: Type.Record(Type.String(), Type.Integer(), {
    description: 'Workers by status, and `total` (every registered worker).',
  }),
  queue: Counts,
  unroutable_pending: Type.Integer({
    description:
      'Pending tasks that no live worker can run (its backend_type or problem is offered by none); they wait, they are not failed.',
  }),
  warnings: Type.Array(Type.String(), {
    description:
      'What keeps work from running, in words: tasks waiting with no worker able to run them (and why), in-process workers that claim nothing (and why).',
  }),
  version: Type.String(),
});

/** Groups of waiting tasks explained in `warnings`; the rest are counted in one line. */
const EXPLAINED_GROUPS = 3;

const EMPTY_WORKERS: Record<WorkerStatus, number> = { idle: 0, busy: 0, offline: 0, draining: 0 };

/** The in-process workers that claim nothing, and the pending tasks nobody can run, with why. */
async function warningsOf(
  deps: RouteDeps,
  unroutable: { problem_id: string; backend_type: string | null; count: number }[],
): Promise<string[]> {
  const idle = (deps.pool?.status().workers ?? []).filter((w) => w.status_reason);
  const out = idle.map((w) => `${w.worker_id} claims nothing: ${w.status_reason}`);
  for (const g of unroutable.slice(0, EXPLAINED_GROUPS)) {
    const why = await deps.queue.waitingReason(g);
    out.push(
      `${g.count} pending ${g.problem_id} task(s) wait: ${why ?? 'a worker that can run them just arrived'}`,
    );
  }
  const rest = unroutable.slice(EXPLAINED_GROUPS).reduce((n, g) => n + g.count, 0);
  if (rest > 0)
    out.push(`${rest} more pending task(s) of other problems wait with no worker able to run them`);
  return out;
}

async function health(deps: RouteDeps) {
  const { queue, version } = deps;
  const kind = queue.db.kind;
  try {
    const latency = await pingDatabase(queue.db);
    const [counts, workers, unroutable] = await Promise.all([
      queue.statusCounts(),
      queue.workerCountsByStatus(),
      queue.unroutablePending(),
    ]);
    const serving = workers.idle + workers.busy + workers.draining;
    const warnings = await warningsOf(deps, unroutable);
    return {
      code: 200 as const,
      body: {
        status: serving > 0 && warnings.length === 0 ? ('healthy' as const) : ('degraded' as const),
        timestamp: new Date().toISOString(),
        database: { ok: true, connected: true, latency_ms: Math.round(latency * 100) / 100, kind },
        workers: { total: Object.values(workers).reduce((a, b) => a + b, 0), ...workers },
        queue: counts as Record<TaskStatus, number>,
        unroutable_pending: unroutable.reduce((n, u) => n + u.count, 0),
        warnings,
        version,
      },
    };
  } catch (err) {
    if (!isDbDown(err)) throw err;
    return {
      code: 503 as const,
      body: {
        status: 'unhealthy' as const,
        timestamp: new Date().toISOString(),
        database: { ok: false, connected: false, latency_ms: null, kind },
        workers: { total: 0, ...EMPTY_WORKERS },
        queue: {},
        unroutable_pending: 0,
        warnings: ['the database cannot be reached'],
        version,
      },
    };
  }
}

/** `/` for API clients: where everything is (the predecessor's `docs` and `health` at the top level). */
function rootLinks(deps: RouteDeps) {
  const docs = deps.config.ENABLE_DOCS;
  return {
    name: 'Task Executor',
    version: deps.version,
    // docs and health at the top level, as the predecessor answered.
    docs: docs ? '/docs' : '/openapi.json',
    health: '/health',
    links: {
      api: '/api/v1',
      health: '/health',
      dashboard: '/ui/',
      queue_stats: '/queue/stats',
      metrics: '/metrics',
      openapi: '/openapi.json',
      ready: '/ready',
      ...(docs ? { docs: '/docs', redoc: '/redoc' } : {}),
    },
  };
}

export const healthRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { queue } = deps;

  app.get(
    '/',
    {
      schema: {
        tags,
        summary: 'Service metadata and links',
        description:
          'JSON for API clients. A browser (an Accept header that ranks text/html above JSON) is redirected to the dashboard, /ui/.',
        response: {
          200: Type.Object(
            {
              name: Type.String(),
              version: Type.String(),
              docs: Type.String({ description: '/docs, or /openapi.json when ENABLE_DOCS is off.' }),
              health: Type.String(),
              links: Type.Record(Type.String(), Type.String()),
            },
            { description: 'The service’s name, version and where to read on.' },
          ),
        },
      },
      config: {
        documented: {
          response: {
            302: { type: 'null', description: 'A browser: sent to the dashboard (`location: /ui/`).' },
          },
        },
      },
    },
    async (req, reply) => {
      // A person who opens the server's address in a browser wants to look, not read JSON.
      if (prefersHtml(req.headers.accept)) {
        await reply.redirect('/ui/', 302);
        return;
      }
      return rootLinks(deps);
    },
  );

  app.get(
    '/health',
    {
      schema: {
        tags,
        summary: 'Database, workers and queue at a glance',
        response: {
          200: described('Healthy, or degraded (no live worker).', HealthResponse),
          503: described('Unhealthy: the database is unreachable.', HealthResponse),
        },
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
        description:
          'Counts are exact and current (kept by the transitions themselves). Averages cover `window` (default the last hour), said in the response.',
        querystring: WindowQuery,
        response: {
          200: described('Counts per status and timings over the window.', QueueStatsResponse),
          ...errors(422, 503),
        },
      },
    },
    async (req) => {
      const s = await queue.taskStats(false, req.query.window ?? '1h');
      return {
        total: s.total,
        ...s.by_status,
        by_status: s.by_status,
        success_rate: s.success_rate,
        average_wait_seconds: s.average_wait_seconds,
        average_execution_seconds: s.average_execution_seconds,
        average_wait_time: s.average_wait_seconds,
        average_execution_time: s.average_execution_seconds,
        oldest_pending_age_seconds: s.oldest_pending_age_seconds,
        window: s.window,
      };
    },
  );

  app.get(
    '/metrics',
    {
      schema: { tags, summary: 'Prometheus exposition', produces: ['text/plain'] },
      // Documented only: a response schema would have Fastify serialize the text as JSON.
      config: {
        documented: {
          response: {
            200: {
              description: 'Every metric in the Prometheus text format.',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
          },
        },
      },
    },
    async (_req, reply) => {
      const text = await deps.metrics.render();
      return reply.type(deps.metrics.registry.contentType).send(text);
    },
  );
};
