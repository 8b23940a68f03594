/**
 * A worker on another machine: the same loop as the in-process pool, over HTTP.
 * `task-executor worker --api-url URL --id worker-007-kind --backend-type command` calls
 * runRemoteWorker. SIGTERM or SIGINT drains it: no new claims, status `draining`, running
 * tasks get WORKER_SHUTDOWN_GRACE seconds to finish, then are stopped and given back
 * (uncharged); then the promise resolves and the process can exit 0. A second signal cuts
 * the grace short (tasks are stopped and given back at once, never orphaned).
 */
import { createBackend } from '../backends/index.ts';
import type { Config } from '../config/index.ts';
import { createLogger } from '../server/logger.ts';
import { HttpTransport } from './http.ts';
import { isTransient } from './transport.ts';
import { type Logger, listBackendProblems, Worker } from './worker.ts';

export interface RemoteWorkerOptions {
  /** Base URL of the API, e.g. http://10.0.0.5:8000 (without /api/v1). */
  apiUrl: string;
  /** Must match the server's WORKER_ID_PATTERN, e.g. worker-007-kind. */
  id: string;
  /** A type createBackend knows (BACKEND_TYPES), e.g. `command`. */
  backendType: string;
  /** Tasks run at once (the capability `max_parallel_tasks`). */
  maxParallel: number;
  /** Exact problem ids or globs (`*`, `?`); empty = the backend's own catalogue (sandbox), else every problem. */
  supportedProblems: string[];
  /** DATA_DIR, HEARTBEAT_INTERVAL, WORKER_SHUTDOWN_GRACE, LOG_LEVEL, COMMAND_* are read from it. */
  config: Config;
  /** Bearer token, when the API requires worker tokens. */
  token?: string;
  /** How long one claim long-polls the API (seconds, ≤ 60). Default 20. */
  claimWaitSeconds?: number;
  /** Aborting it drains the worker like SIGTERM (for embedding and tests). */
  signal?: AbortSignal;
  /** Default: stdout at LOG_LEVEL in LOG_FORMAT (pretty on a terminal, JSON otherwise). */
  logger?: Logger;
  /** Listen for SIGTERM/SIGINT (default true). */
  handleSignals?: boolean;
}

/** The worker cannot do its job as configured; nothing was registered or claimed. */
export class WorkerRefused extends Error {
  override name = 'WorkerRefused';
}

/** Runs until drained by a signal (or `signal`); resolves once every task is finished or given back. */
export async function runRemoteWorker(o: RemoteWorkerOptions): Promise<void> {
  const logger = o.logger ?? createLogger(o.config, { base: { worker_id: o.id } });
  const grace = o.config.WORKER_SHUTDOWN_GRACE * 1000;
  const backend = createBackend(o.backendType, o.config);
  // Checked before registering: a worker whose backend cannot run would claim every matching
  // task and fail each at once, silently draining the queue.
  const unavailable = backend.unavailable?.() ?? (await listBackendProblems(backend)).problem;
  if (unavailable)
    throw new WorkerRefused(
      `worker ${o.id} refuses to start: its ${o.backendType} backend cannot run: ${unavailable}`,
    );
  const worker = new Worker({
    id: o.id,
    backend,
    transport: new HttpTransport(o.apiUrl, { token: o.token }),
    maxParallel: o.maxParallel,
    supportedProblems: o.supportedProblems.length > 0 ? o.supportedProblems : undefined,
    // Long-poll: the server holds the claim open until work arrives (up to this long).
    pollIntervalMs: (o.claimWaitSeconds ?? 20) * 1000,
    heartbeatIntervalMs: o.config.HEARTBEAT_INTERVAL * 1000,
    dataDir: o.config.DATA_DIR,
    logger,
    metadata: { remote: true },
  });

  const stopRequested = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    logger.info({ signal, grace_seconds: signals > 1 ? 0 : grace / 1000 }, 'draining');
    stopRequested.abort();
    void worker.stop(signals > 1 ? 0 : grace);
  };
  const handle = o.handleSignals ?? true;
  if (handle) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  const onAbort = () => onSignal('SIGTERM');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (o.signal?.aborted) return;
    await startWithRetry(worker, stopRequested.signal, logger);
    if (!stopRequested.signal.aborted)
      logger.info(
        { api_url: o.apiUrl, backend_type: o.backendType, max_parallel: o.maxParallel },
        'worker started',
      );
    await new Promise<void>((resolve) => {
      if (stopRequested.signal.aborted) resolve();
      else stopRequested.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await worker.stop(grace);
    logger.info({}, 'worker stopped');
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (handle) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  }
}

/** The API may start after its workers (or be restarting): keep trying to register. */
async function startWithRetry(worker: Worker, stop: AbortSignal, logger: Logger): Promise<void> {
  for (let attempt = 1; !stop.aborted; attempt++) {
    try {
      await worker.start();
      return;
    } catch (err) {
      // A refusal (bad id, unknown backend on the server) will not fix itself.
      if (!isTransient(err)) throw err;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      logger.warn({ err, retry_in_ms: delay }, 'cannot register with the API; retrying');
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        stop.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            r();
          },
          { once: true },
        );
      });
    }
  }
}
