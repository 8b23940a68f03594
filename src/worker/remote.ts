/**
 * A worker on another machine: the same loop as the in-process pool, over HTTP. SIGTERM or
 * SIGINT drains it (stop claiming, finish or give back running tasks) and it exits 0.
 */
import pino from 'pino';
import { createBackend } from '../backends/index.ts';
import type { Config } from '../config/index.ts';
import { HttpTransport } from './http.ts';
import { Worker } from './worker.ts';

export interface RemoteWorkerOptions {
  apiUrl: string;
  id: string;
  backendType: string;
  maxParallel: number;
  /** Exact problem ids or globs (`*`, `?`); empty = every problem. */
  supportedProblems: string[];
  config: Config;
}

export async function runRemoteWorker(o: RemoteWorkerOptions): Promise<void> {
  const logger = pino({ level: o.config.LOG_LEVEL, base: { worker_id: o.id } });
  const worker = new Worker({
    id: o.id,
    backend: createBackend(o.backendType, o.config),
    transport: new HttpTransport(o.apiUrl),
    maxParallel: o.maxParallel,
    supportedProblems: o.supportedProblems,
    // Long-poll: the server holds the claim open until work arrives (up to this long).
    pollIntervalMs: 20_000,
    heartbeatIntervalMs: o.config.HEARTBEAT_INTERVAL * 1000,
    dataDir: o.config.DATA_DIR,
    logger,
    metadata: { remote: true },
  });
  await worker.start();
  logger.info(
    { api_url: o.apiUrl, backend_type: o.backendType, max_parallel: o.maxParallel },
    'worker started',
  );
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal, grace_seconds: o.config.WORKER_SHUTDOWN_GRACE }, 'draining');
      worker.stop(o.config.WORKER_SHUTDOWN_GRACE * 1000).then(resolve, (err) => {
        logger.error({ err }, 'drain failed');
        resolve();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  logger.info({}, 'worker stopped');
}
