/**
 * GET /ready: the readiness probe the predecessor documented (`{ ready, database, workers }`).
 * Ready means the API can serve requests, which needs the database and nothing else: with no
 * worker running, tasks are still accepted and wait, so `workers` is reported, not required.
 * 503 when not ready, so a load balancer or Kubernetes takes the replica out of rotation.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pingDatabase } from '../../queue/health.ts';
import { isDbDown } from '../errors.ts';
import { described } from '../schemas/common.ts';
import type { RouteOptions } from '../types.ts';

const ReadyResponse = Type.Object({
  ready: Type.Boolean({ description: 'The database answers: requests can be served.' }),
  database: Type.Boolean(),
  workers: Type.Boolean({ description: 'Some worker is registered and live (idle, busy or draining).' }),
});

export const readyRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { queue } = deps;

  app.get(
    '/ready',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: 200 when the database answers, else 503',
        response: {
          200: described('Ready: the database answers.', ReadyResponse),
          503: described('Not ready: the database does not answer.', ReadyResponse),
        },
      },
    },
    async (_req, reply) => {
      try {
        await pingDatabase(queue.db);
        const w = await queue.workerCountsByStatus();
        const workers = w.idle + w.busy + w.draining > 0;
        return reply.code(200).send({ ready: true, database: true, workers });
      } catch (err) {
        if (!isDbDown(err)) throw err;
        return reply.code(503).send({ ready: false, database: false, workers: false });
      }
    },
  );
};
