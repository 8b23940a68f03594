/**
 * The HTTP API, built apart from listen(): the server entry point listens, tests inject or
 * listen on port 0. Everything the routes need comes in through `deps`; nothing is global.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifySchema,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { type AttemptGateway, Attempts } from '../attempts/index.ts';
import type { Config } from '../config/index.ts';
import { FeedHub } from '../datasets/feed-hub.ts';
import { type ConversationStore, createConversationStore } from '../gateway/conversations.ts';
import { createGateway, type Gateway } from '../gateway/gateway.ts';
import type { Queue } from '../queue/queue.ts';
import { REDACT } from '../server/logger.ts';
import type { WorkerPoolControl } from '../worker/pool.ts';
import { accessFor, installAuth } from './auth.ts';
import { installBodyParser } from './body.ts';
import { createFeedPayloads } from './feed-payloads.ts';
import { installErrorHandling } from './http.ts';
import { type ApiMetrics, createMetrics } from './metrics.ts';
import { conversationRoutes } from './routes/conversations.ts';
import { experimentRoutes } from './routes/experiments.ts';
import { exportRoutes } from './routes/export.ts';
import { feedRoutes } from './routes/feeds.ts';
import { healthRoutes } from './routes/health.ts';
import { internalRoutes } from './routes/internal.ts';
import { llmRoutes } from './routes/llm.ts';
import { problemRoutes } from './routes/problems.ts';
import { readyRoutes } from './routes/ready.ts';
import { taskRoutes } from './routes/tasks.ts';
import { workerReportRoutes } from './routes/worker-reports.ts';
import { workerRoutes } from './routes/workers.ts';
import type { Api, RouteDeps } from './types.ts';
import { validatorCompiler } from './validation.ts';

export interface AppDeps {
  config: Config;
  queue: Queue;
  pool?: WorkerPoolControl;
  /** A pino logger instance, pino options, or false to log nothing. Default: JSON at LOG_LEVEL. */
  logger?: FastifyBaseLogger | FastifyServerOptions['logger'];
  /** Pass one in to record reaper passes from the server (metrics.recordReap). Default: a new one. */
  metrics?: ApiMetrics;
  conversations?: ConversationStore;
  /** The LLM gateway; one is built on the queue's database when not given. */
  gateway?: Gateway;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ApiMetrics;
    gateway: Gateway;
    attempts: Attempts;
  }
}

export const VERSION: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version;

// A client-chosen request id is echoed and logged; keep it to a safe alphabet so it cannot
// forge log lines or headers.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function loggerOptions(deps: AppDeps): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  const l = deps.logger;
  if (l && typeof l === 'object' && 'child' in l && typeof l.child === 'function')
    return { loggerInstance: l as FastifyBaseLogger };
  // Options passed in (a level, a stream, serializers) keep the redaction unless they set their own.
  if (l && typeof l === 'object') return { logger: { redact: REDACT, ...l } };
  if (l !== undefined) return { logger: l as FastifyServerOptions['logger'] };
  return { logger: { level: deps.config.LOG_LEVEL, redact: REDACT } };
}

export async function createApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, queue } = deps;
  const app: Api = Fastify({
    ...loggerOptions(deps),
    bodyLimit: config.BODY_LIMIT_BYTES,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const metrics = deps.metrics ?? createMetrics(queue);
  const gateway =
    deps.gateway ??
    (await createGateway({
      db: queue.db,
      config,
      logger: app.log,
      observe: (o) => metrics.observeLlmCall(o),
    }));
  const attempts = new Attempts(queue, gatewayForAttempts(gateway), app.log);
  const closing = new AbortController();
  // Every open event stream listens for shutdown on this one signal.
  setMaxListeners(0, closing.signal);
  const conversations = deps.conversations ?? createConversationStore(queue.db);
  const feed = new FeedHub(queue.db, {
    pollMs: config.FEED_POLL_MS,
    ringSize: 10_000,
    pageSize: 1_000,
    onError: (err) => app.log.warn({ err }, 'feed read failed; retrying at the next poll'),
  });
  // A finish in this process is read at once; others' are found by the next poll.
  const pokeFeed = () => feed.poke();
  queue.events.on('terminal', pokeFeed);
  const routeDeps: RouteDeps = {
    config,
    queue,
    pool: deps.pool,
    conversations,
    feed,
    payloads: createFeedPayloads(queue, conversations),
    gateway,
    attempts,
    metrics,
    closing: closing.signal,
    version: VERSION,
  };

  app.decorate('metrics', metrics);
  app.decorate('gateway', gateway);
  app.decorate('attempts', attempts);
  app.setValidatorCompiler(validatorCompiler);
  installBodyParser(app);
  installErrorHandling(app);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  // After the request id (a refusal carries it too), before any route (the table sees them all).
  installAuth(app, config);
  app.addHook('onResponse', async (req, reply) => {
    // The route pattern, not the URL, so ids do not explode the label set.
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.addHook('preClose', async () => closing.abort());
  app.addHook('onClose', async () => {
    queue.events.off('terminal', pokeFeed);
    feed.close();
  });
  // Only a metrics object made here is ours to detach; one passed in belongs to the caller.
  if (!deps.metrics) app.addHook('onClose', async () => metrics.close());
  if (!deps.gateway) app.addHook('onClose', async () => gateway.close());

  await registerDocs(app, config);
  await app.register(healthRoutes, { deps: routeDeps });
  await app.register(readyRoutes, { deps: routeDeps });
  for (const routes of [
    taskRoutes,
    workerRoutes,
    internalRoutes,
    workerReportRoutes,
    conversationRoutes,
    problemRoutes,
    experimentRoutes,
    feedRoutes,
    exportRoutes,
  ])
    await app.register(routes, { prefix: '/api/v1', deps: routeDeps });
  await app.register(llmRoutes, { prefix: '/llm/v1', deps: routeDeps });
  return app as unknown as FastifyInstance;
}

async function registerDocs(app: Api, config: Config): Promise<void> {
  await app.register(swagger, {
    openapi: {
      // 3.1 is JSON Schema itself, so nullable fields (anyOf with type null) are valid as written.
      openapi: '3.1.0',
      info: {
        title: 'Task Executor',
        version: VERSION,
        description:
          'Runs LLM agents on AIOpsLab incidents over a fenced PostgreSQL task queue.\n\n' +
          'Authentication: when the server has API tokens (API_TOKENS / API_TOKENS_FILE), every ' +
          'operation declaring `bearerAuth` needs `Authorization: Bearer <token>` of one of the roles ' +
          'in its `x-roles` (401 without a valid token, 403 for another role); without tokens the API ' +
          'is open. Operations declaring `security: []` are always public. The LLM gateway ' +
          '(`taskToken`) always needs the per-attempt task token a claim hands out.',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An API token (role admin, client or worker) from API_TOKENS or API_TOKENS_FILE. Needed only when the server has tokens configured; `x-roles` on each operation lists the roles it accepts (admin always).',
          },
          taskToken: {
            type: 'http',
            scheme: 'bearer',
            description:
              'The per-attempt task token a claim hands out (`llm_api_key`); only the LLM gateway (/llm/v1) takes it, and it opens nothing else.',
          },
        },
      },
      tags: [
        { name: 'tasks' },
        { name: 'workers' },
        { name: 'internal workers' },
        { name: 'llm conversations' },
        { name: 'llm gateway' },
        { name: 'problems' },
        { name: 'experiments' },
        { name: 'feeds' },
        { name: 'export' },
        { name: 'health' },
      ],
    },
    // Each operation's security comes from the table the auth hook enforces (auth.ts), so the
    // document cannot drift from what the server does.
    transform: ({ schema, url, route }) => ({ schema: withSecurity(schema, route.method, url), url }),
  });
  app.get('/openapi.json', { schema: { tags: ['health'], summary: 'This OpenAPI document' } }, () =>
    app.swagger(),
  );
  if (!config.ENABLE_DOCS) return;
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // The predecessor (FastAPI) also served ReDoc at /redoc; the same page, reading /openapi.json.
  app.get(
    '/redoc',
    { schema: { tags: ['health'], summary: 'API reference (ReDoc)', hide: true } },
    (_req, reply) => reply.type('text/html; charset=utf-8').send(REDOC_PAGE),
  );
}

/** ReDoc renders in the browser from its published bundle, as FastAPI's /redoc does; /docs needs no network. */
const REDOC_PAGE = `<!doctype html>
<html>
<head>
<title>Task Executor - ReDoc</title>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
<noscript>ReDoc needs JavaScript; read <a href="/docs">/docs</a> or <a href="/openapi.json">/openapi.json</a>.</noscript>
<redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script>
</body>
</html>
`;

/**
 * The route's schema with `security` (and, for API tokens, the accepted roles as `x-roles` and
 * in the description) as the auth table decides it. The route's own schema is not changed.
 */
function withSecurity(
  schema: FastifySchema | undefined,
  method: string | string[],
  url: string,
): FastifySchema {
  // HEAD follows GET; a route registered for several methods is documented by its first.
  const first = [method].flat().find((m) => m !== 'HEAD') ?? 'GET';
  const { access } = accessFor(first, url);
  const given: Record<string, unknown> = { ...schema };
  const describe = (note: string) =>
    typeof given.description === 'string' && given.description ? `${given.description}\n\n${note}` : note;
  let extra: Record<string, unknown>;
  if (access === 'public') extra = { security: [], description: describe('Public: no token needed.') };
  else if (access === 'gateway')
    extra = {
      security: [{ taskToken: [] }],
      description: describe('Bearer: the attempt’s task token (`llm_api_key` from the claim).'),
    };
  else {
    const roles = ['admin', ...access];
    extra = {
      security: [{ bearerAuth: [] }],
      'x-roles': roles,
      description: describe(`Roles (when API tokens are configured): ${roles.join(', ')}.`),
    };
  }
  return { ...given, ...extra };
}

/** The gateway as the attempts service uses it: minting tokens and settling an attempt's calls. */
function gatewayForAttempts(gateway: Gateway): AttemptGateway {
  return {
    async minter() {
      const issuer = await gateway.tokens();
      return (taskId, attempt) => issuer.mint(taskId, attempt);
    },
    settled: (taskId, attempt) => gateway.settled(taskId, attempt),
  };
}
