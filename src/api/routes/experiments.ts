/** /api/v1/experiments (GRPO grids) and /api/v1/tasks/{id}/rewards (issue 12). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerRole } from '../auth.ts';
import { toNewExperiment } from '../experiment-input.ts';
import { resolvePage } from '../pagination.ts';
import { described, errors, IdParams } from '../schemas/common.ts';
import {
  ExperimentCancelResponse,
  ExperimentCreateBody,
  ExperimentGroupsResponse,
  ExperimentListQuery,
  ExperimentListResponse,
  ExperimentSchema,
  RewardBody,
  RewardSchema,
  RewardsQuery,
  RewardsResponse,
} from '../schemas/experiments.ts';
import { TaskCreateHeaders } from '../schemas/tasks.ts';
import type { RouteOptions } from '../types.ts';

const tags = ['experiments'];

export const experimentRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { queue, config } = deps;

  app.post(
    '/experiments',
    {
      schema: {
        tags,
        summary: 'Create an experiment: problems × agent configs × K repetitions, in one transaction',
        description:
          'Each task carries experiment_id, group_id (same problem and agent config; the K repetitions share it) and repetition. At most 10,000 tasks; a glob that matches nothing is a 422. 201 when created; 200 with the existing experiment when its idempotency key was used before.',
        body: ExperimentCreateBody,
        headers: TaskCreateHeaders,
        response: {
          200: described(
            'The experiment made earlier with the same idempotency key (nothing created).',
            ExperimentSchema,
          ),
          201: described('Created: the experiment, its tasks queued.', ExperimentSchema),
          ...errors(400, 413, 422, 503),
        },
      },
    },
    async (req, reply) => {
      const input = toNewExperiment(req.body, config, callerRole(req), req.headers['idempotency-key']);
      const { id, created } = await queue.createExperiment(input);
      return reply.code(created ? 201 : 200).send(await queue.mustGetExperiment(id));
    },
  );

  app.get(
    '/experiments',
    {
      schema: {
        tags,
        summary: 'List experiments, newest first, with their progress',
        querystring: ExperimentListQuery,
        response: {
          200: described('A page of experiments, newest first.', ExperimentListResponse),
          ...errors(422, 503),
        },
      },
    },
    async (req) => {
      const page = resolvePage(req.query, 20);
      const { experiments, total } = await queue.listExperiments(page);
      return { experiments, total, ...page };
    },
  );

  app.get(
    '/experiments/:id',
    {
      schema: {
        tags,
        summary: 'Read an experiment and its progress',
        description:
          'Counts by status, success rate, groups complete, tokens and cost over its tasks’ LLM conversations, wall time.',
        params: IdParams,
        response: {
          200: described('The experiment and its progress.', ExperimentSchema),
          ...errors(404, 422, 503),
        },
      },
    },
    (req) => queue.mustGetExperiment(req.params.id),
  );

  app.get(
    '/experiments/:id/groups',
    {
      schema: {
        tags,
        summary: 'An experiment per group: counts, success rate and mean reward',
        description:
          'One entry per group (a problem under one agent config, its K repetitions), ordered by problem id: what a problem × model table reads.',
        params: IdParams,
        response: {
          200: described('The experiment’s groups.', ExperimentGroupsResponse),
          ...errors(404, 422, 503),
        },
      },
    },
    async (req) => ({
      experiment_id: req.params.id,
      groups: await queue.experimentGroups(req.params.id),
    }),
  );

  app.post(
    '/experiments/:id/cancel',
    {
      schema: {
        tags,
        summary: 'Cancel every task of the experiment that has not finished',
        description: 'Pending tasks end cancelled at once; running ones are asked to stop. Repeatable.',
        params: IdParams,
        response: {
          200: described(
            'The experiment after the cancel, and how many tasks ended cancelled or were asked to stop.',
            ExperimentCancelResponse,
          ),
          ...errors(404, 422, 503),
        },
      },
    },
    async (req) => {
      const counts = await queue.cancelExperiment(req.params.id);
      return { ...counts, experiment: await queue.mustGetExperiment(req.params.id) };
    },
  );

  app.post(
    '/tasks/:id/rewards',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Append a named reward to a task',
        description:
          'Append-only: writing the same name again adds to its history and never changes earlier entries. The default reward (name `default`) is derived from the evaluation and served on the task.',
        params: IdParams,
        body: RewardBody,
        response: { 201: described('Recorded: the reward entry.', RewardSchema), ...errors(404, 422, 503) },
      },
    },
    async (req, reply) => {
      const { name, value, details } = req.body;
      const reward = await queue.appendReward(req.params.id, {
        name,
        value,
        details: (details ?? null) as Parameters<typeof queue.appendReward>[1]['details'],
        written_by: callerRole(req),
      });
      return reply.code(201).send(reward);
    },
  );

  app.get(
    '/tasks/:id/rewards',
    {
      schema: {
        tags: ['tasks'],
        summary: 'A task’s rewards: the default one and the written history',
        params: IdParams,
        querystring: RewardsQuery,
        response: {
          200: described('The default reward and the written history.', RewardsResponse),
          ...errors(404, 422, 503),
        },
      },
    },
    async (req) => {
      const task = await queue.mustGetTask(req.params.id);
      const rewards = await queue.listRewards(task.id, req.query.name);
      return { task_id: task.id, reward: task.reward, reward_reason: task.reward_reason, rewards };
    },
  );
};
