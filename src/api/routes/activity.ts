/** GET /api/v1/tasks/activity: throughput over time, for the dashboard's overview and for scripts. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ActivityWindow } from '../../queue/activity-series.ts';
import { ActivityQuery, ActivityResponse } from '../schemas/activity.ts';
import { described, errors } from '../schemas/common.ts';
import type { RouteOptions } from '../types.ts';

export const activityRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  app.get(
    '/tasks/activity',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Claims and finished tasks minute by minute',
        description:
          'Read from the per-minute counters the transitions keep (not the task history), so it costs the same whatever the history’s size.',
        querystring: ActivityQuery,
        response: {
          200: described('One entry per minute, oldest first.', ActivityResponse),
          ...errors(422, 503),
        },
      },
    },
    async (req) => {
      const window = (req.query.window ?? '1h') as ActivityWindow;
      return { window, minutes: await deps.queue.activitySeries(window) };
    },
  );
};
