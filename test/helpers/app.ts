/**
 * A fresh app per test: its own database (test/helpers/db.ts: PGlite loaded from a cached
 * migrated template, or a new PostgreSQL database), a queue and the HTTP app, optionally
 * listening on 127.0.0.1:0.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { type AppDeps, createApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/config/index.ts';
import type { Db } from '../../src/db/types.ts';
import { createQueue, type Queue } from '../../src/queue/index.ts';
import type { WorkerPoolControl } from '../../src/worker/pool.ts';
import { createTestDb, type DbMode } from './db.ts';

export interface TestApp {
  app: FastifyInstance;
  queue: Queue;
  db: Db;
  config: Config;
  /** Base URL when started with listen: true. */
  url: string;
  inject(opts: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  pool?: WorkerPoolControl;
  listen?: boolean;
  /** A logger for the app (e.g. pino into an array); default: none. */
  logger?: AppDeps['logger'];
}

export async function createTestApp(mode: DbMode, opts: TestAppOptions = {}): Promise<TestApp> {
  const { db, drop } = await createTestDb(mode);
  const config = loadConfig({ LOG_LEVEL: 'silent', ...opts.env });
  const queue = createQueue(db, {
    leaseSeconds: config.LEASE_SECONDS,
    notifyDebounceMs: config.NOTIFY_DEBOUNCE_MS,
  });
  await queue.start();
  const app = await createApp({ config, queue, pool: opts.pool, logger: opts.logger ?? false });
  let url = '';
  if (opts.listen) url = await app.listen({ host: '127.0.0.1', port: 0 });
  else await app.ready();
  return {
    app,
    queue,
    db,
    config,
    url,
    inject: (o) => app.inject(o),
    async close() {
      await app.close();
      await queue.stop();
      await drop();
    },
  };
}

/** A parsed JSON response, read field by field in assertions (the schemas are what the tests check). */
// biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary response JSON.
export type Body = Record<string, any>;

/** JSON body of a response (fails loudly when it is not JSON). */
export function json<T = Record<string, unknown>>(res: { body: string }): T {
  return JSON.parse(res.body) as T;
}

/** Registers a worker that matches the default WORKER_ID_PATTERN. */
export async function registerWorker(
  t: TestApp,
  id = 'worker-001-kind',
  extra: Record<string, unknown> = {},
) {
  const res = await t.inject({
    method: 'POST',
    url: '/api/v1/workers/register',
    payload: { worker_id: id, ...extra },
  });
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  return json(res);
}

/** Submits one task and returns its JSON. */
export async function submitTask(
  t: TestApp,
  payload: Record<string, unknown> = { problem_id: 'p-1' },
): Promise<{ id: string } & Record<string, unknown>> {
  const res = await t.inject({ method: 'POST', url: '/api/v1/tasks', payload });
  if (res.statusCode !== 201) throw new Error(`submit failed: ${res.statusCode} ${res.body}`);
  return json<{ id: string }>(res);
}

/** Submits a task, claims it for the (registered) worker and returns the attempt's gateway token. */
export async function claimToken(t: TestApp, workerId: string): Promise<string> {
  await submitTask(t);
  const res = await t.inject({ method: 'POST', url: `/api/v1/workers/${workerId}/claim` });
  const token = res.statusCode === 200 ? (json<{ llm_api_key?: string }>(res).llm_api_key ?? null) : null;
  if (!token) throw new Error(`claim gave no token: ${res.statusCode} ${res.body}`);
  return token;
}
