/**
 * The composition root: opens the database, migrates, builds the queue, the HTTP app, the
 * in-process worker pool and the background jobs (reaper, callbacks), and closes them in
 * reverse order. Nothing is created at import time.
 */
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createApp } from '../api/app.ts';
import { checkAuthPlan } from '../api/auth.ts';
import { CallbackDispatcher } from '../callbacks/dispatcher.ts';
import type { Config } from '../config/index.ts';
import { migrate, openDb } from '../db/index.ts';
import type { Db } from '../db/types.ts';
import { createQueue, type Queue } from '../queue/index.ts';
import { checkWorkerPlan, internalWorkerPlan, WorkerManager } from '../worker/manager.ts';
import { createLogger } from './logger.ts';
import { reaperLoop } from './reaper-loop.ts';
import { ReplicaSlot } from './replica-slot.ts';
import { upkeepLoop } from './upkeep-loop.ts';

export interface RunningServer {
  app: FastifyInstance;
  queue: Queue;
  pool: WorkerManager;
  url: string;
  log: FastifyInstance['log'];
  close(): Promise<void>;
}

export interface ServerOptions {
  /** An open, migrated database to use instead of the configured one (left open on close). */
  db?: Db;
  /** The process logger; default: stdout at LOG_LEVEL in LOG_FORMAT (see logger.ts). */
  logger?: Logger;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const plan = internalWorkerPlan(config);
  // A typo in a backend name stops the server before it opens anything.
  checkWorkerPlan(plan.slots);
  // Bad tokens, or an open API on a reachable address, stop it here too.
  checkAuthPlan(config);
  // Start-up takes seconds on a fresh data folder (PGlite initialises, migrations run): each
  // step says what it is doing, so a silent terminal never looks like a hang.
  const log = options.logger ?? createLogger(config);
  const db = options.db ?? (await openDatabase(config, log));
  const queue = createQueue(db, {
    leaseSeconds: config.LEASE_SECONDS,
    notifyDebounceMs: config.NOTIFY_DEBOUNCE_MS,
  });
  await queue.start();
  // This replica's block of in-process worker ids (the logger exists once the app does).
  const logRef: { log?: FastifyInstance['log'] } = {};
  const slot = await ReplicaSlot.take(db, () =>
    logRef.log?.error(
      { slot: slot.slot },
      'replica slot taken over by another replica (this one missed its renewals): in-process worker ids may now collide',
    ),
  );
  const pool = new WorkerManager({ config, queue, idBase: slot.idBase });
  const app = await createApp({ config, queue, pool, logger: log });
  logRef.log = log;

  const reaper = reaperLoop(
    queue,
    config.TIMEOUT_CHECK_INTERVAL,
    config.WORKER_HEARTBEAT_TIMEOUT,
    (r) => {
      app.metrics.recordReap(r);
      if (r.requeued + r.failed + r.cancelled + r.timed_out + r.workers_offline + r.leases_honoured > 0)
        log.info({ reap: r }, 'reaper pass');
    },
    (err) => log.warn({ err }, 'reaper pass failed'),
  );
  const callbacks = new CallbackDispatcher(
    queue,
    config,
    (err) => log.warn({ err }, 'callback delivery pass failed'),
    { log },
  );
  const upkeep = upkeepLoop(
    db,
    config.UPKEEP_INTERVAL_SECONDS,
    { retentionDays: config.RETENTION_DAYS },
    (r) => {
      app.metrics.recordUpkeep(r);
      if (r.tasks > 0) log.info({ retention: r }, 'retention pass deleted expired tasks');
    },
    (err) => log.warn({ err }, 'upkeep pass failed'),
  );
  if (config.ENABLE_BACKGROUND_TASKS) {
    reaper.start();
    callbacks.start();
    upkeep.start();
  }

  const url = await app.listen({ host: config.HOST, port: config.PORT });
  const docs = `${browsableUrl(url)}${config.ENABLE_DOCS ? '/docs' : '/openapi.json'}`;
  log.info({ url, docs, database: db.kind }, `Task Executor listening on ${url} (API docs: ${docs})`);
  const gatewayUrl = config.LLM_GATEWAY_URL || localGatewayUrl(config.HOST, app);
  pool.attach({ attempts: app.attempts, llmBaseUrl: gatewayUrl, logger: log });
  if (config.AUTO_START_WORKERS && plan.workers > 0) {
    log.info(
      { workers: plan.workers, backends: mixOf(plan.slots, plan.workers) },
      'starting in-process workers',
    );
    const started = await pool.start();
    const unavailable = started.workers.filter((w) => w.status_reason).length;
    log.info(
      { workers: started.workers.length - unavailable, unavailable },
      unavailable > 0
        ? `in-process workers started; ${unavailable} claim nothing (see the errors above)`
        : 'in-process workers started',
    );
  } else
    log.info(
      {},
      'no in-process workers (AUTO_START_WORKERS or NUM_INTERNAL_WORKERS): tasks wait for remote workers',
    );

  let closing: Promise<void> | undefined;
  return {
    app,
    queue,
    pool,
    url,
    log,
    close() {
      closing ??= (async () => {
        await pool.stop();
        await app.close();
        await reaper.stop();
        await callbacks.stop();
        await upkeep.stop();
        await slot.release();
        await queue.stop();
        if (!options.db) await db.close();
      })();
      return closing;
    },
  };
}

/** Opens (PGlite: creates on first run) and migrates the configured database, saying what it does. */
async function openDatabase(config: Config, log: Logger): Promise<Db> {
  const where = config.DATABASE_URL
    ? 'PostgreSQL (DATABASE_URL)'
    : `embedded PGlite in ${resolve(config.DATA_DIR, 'pgdata')}`;
  log.info({ database: config.DATABASE_URL ? 'postgres' : 'pglite' }, `opening the database: ${where}`);
  const db = await openDb(config);
  log.info({}, 'applying database migrations');
  const applied = await migrate(db).catch(async (err: unknown) => {
    await db.close().catch(() => {});
    throw err;
  });
  log.info(
    { applied },
    applied.length > 0 ? `applied ${applied.length} migration(s)` : 'database schema is up to date',
  );
  return db;
}

/** `sandbox×2, command×1`: what the worker slots drive, for the start-up line. */
function mixOf(slots: readonly string[], workers: number): string {
  const counts = new Map<string, number>();
  for (let i = 0; i < workers; i++) {
    const b = slots[i % slots.length]!;
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  return [...counts].map(([b, n]) => `${b}×${n}`).join(', ');
}

/** The listening URL as a browser can open it (a wildcard bind is reached over loopback). */
function browsableUrl(url: string): string {
  return url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:');
}

/**
 * The gateway as in-process agents reach it: over loopback when the server listens on every
 * interface (or on loopback), else on the address it is bound to.
 */
function localGatewayUrl(host: string, app: FastifyInstance): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const wildcard = ['0.0.0.0', '::', '', 'localhost'].includes(host);
  const h = wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}/llm/v1`;
}
