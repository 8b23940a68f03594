/**
 * The HTTP API, built apart from listen(): the server entry point listens, tests inject or
 * listen on port 0. Everything the routes need comes in through `deps`; nothing is global.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { type AttemptGateway, Attempts } from '../attempts/index.ts';
import type { Config } from '../config/index.ts';
import { FeedHub } from '../datasets/feed-hub.ts';
import { type ConversationStore, createConversationStore } from '../gateway/conversations.ts';
import { type AttemptEndSignals, createGateway, type Gateway } from '../gateway/gateway.ts';
import type { Queue } from '../queue/queue.ts';
import { REDACT } from '../server/logger.ts';
import type { WorkerPoolControl } from '../worker/pool.ts';
import { installAuth } from './auth.ts';
import { installBodyParser } from './body.ts';
import { registerDocs } from './docs.ts';
import { createFeedPayloads } from './feed-payloads.ts';
import { installErrorHandling } from './http.ts';
import { type ApiMetrics, createMetrics } from './metrics.ts';
import { activityRoutes } from './routes/activity.ts';
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
import { uiRoutes } from './routes/ui.ts';
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
      attemptEnds: attemptEndSignals(queue),
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

  await registerDocs(app, config, VERSION);
  await app.register(healthRoutes, { deps: routeDeps });
  await app.register(uiRoutes);
  await app.register(readyRoutes, { deps: routeDeps });
  for (const routes of [
    activityRoutes,
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

/**
 * Attempt endings for the gateway's attempt cache: other replicas' reports through the
 * queue's NOTIFY channel, and tasks ending here (the reaper, cancels) from its events.
 */
export function attemptEndSignals(queue: Queue): AttemptEndSignals {
  return {
    publish: (keys) => queue.notifier.attemptsEnding(keys),
    subscribe(fn) {
      const offPeers = queue.notifier.onAttemptsEnded(fn);
      queue.events.on('terminal', fn);
      return () => {
        offPeers();
        queue.events.off('terminal', fn);
      };
    },
  };
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
