/** GET /api/v1/problems: the problems each backend offers (built-in catalogues and live workers' lists). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { offeredProblems, serverListedProblems, TASK_TYPES } from '../../backends/index.ts';
import { described, errors, Nullable } from '../schemas/common.ts';
import type { RouteOptions } from '../types.ts';

const tags = ['problems'];
const TaskTypeEnum = Type.Enum([...TASK_TYPES]);

const ProblemsQuery = Type.Object({
  backend: Type.Optional(Type.String({ maxLength: 100, description: 'Only this backend’s problems.' })),
  task_type: Type.Optional(TaskTypeEnum),
});

const ProblemsResponse = Type.Object({
  problems: Type.Array(
    Type.Object({
      id: Type.String(),
      backend: Type.String(),
      task_type: Nullable(TaskTypeEnum),
      app: Nullable(Type.String()),
      description: Nullable(Type.String()),
      deployment: Nullable(
        Type.String({ description: 'AIOpsLab problems the server listed itself: `k8s` or `docker`.' }),
      ),
    }),
  ),
  backends: Type.Array(
    Type.Object({
      backend: Type.String(),
      live_workers: Type.Integer(),
      any_problem: Type.Boolean({ description: 'A live worker of it takes any problem id.' }),
      patterns: Type.Array(Type.String(), { description: 'Globs its live workers advertise.' }),
      problems: Type.Integer(),
    }),
  ),
  total: Type.Integer(),
});

export const problemRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  app.get(
    '/problems',
    {
      schema: {
        tags,
        summary: 'Problems each backend offers',
        description:
          'The built-in catalogues (the `sandbox` backend’s, whether or not a worker runs it now), the `aiopslab` problems with task type and deployment when the server can run the bridge’s list mode itself (AIOPSLAB_DIR set; listed once and cached), and the exact ids that live workers of other backends advertise. A `command` worker advertising nothing takes any id (`any_problem`).',
        querystring: ProblemsQuery,
        response: {
          200: described('The problems per backend, with its live workers.', ProblemsResponse),
          ...errors(422, 503),
        },
      },
    },
    async (req) => {
      const workers = await deps.queue.listWorkers();
      const live = workers
        .filter((w) => w.status !== 'offline')
        .map((w) => ({
          backend_type: w.backend_type,
          supported_problems: Array.isArray(w.capabilities.supported_problems)
            ? (w.capabilities.supported_problems as string[])
            : [],
        }));
      const aiopslab = await serverListedProblems(deps.config, (err) =>
        req.log.warn({ err }, 'listing AIOpsLab problems failed; showing what live workers advertise'),
      );
      const { problems, backends } = offeredProblems(live, aiopslab ? { aiopslab } : {});
      const { backend, task_type } = req.query;
      const shown = problems.filter(
        (p) => (!backend || p.backend === backend) && (!task_type || p.task_type === task_type),
      );
      return {
        problems: shown,
        backends: backend ? backends.filter((b) => b.backend === backend) : backends,
        total: shown.length,
      };
    },
  );
};
