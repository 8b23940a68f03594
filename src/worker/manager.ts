/**
 * WorkerManager: the in-process worker pool (NUM_INTERNAL_WORKERS, ids worker-001-internal…).
 * All its workers share one DirectTransport, so their completions land in shared batches.
 */
import { type Backend, createBackend } from '../backends/index.ts';
import type { Config } from '../config/index.ts';
import type { Queue } from '../queue/index.ts';
import { DirectTransport } from './direct.ts';
import type { PoolStatus, WorkerPoolControl } from './pool.ts';
import { type Logger, Worker } from './worker.ts';

export const MAX_INTERNAL_WORKERS = 50;

export interface WorkerManagerDeps {
  config: Config;
  queue: Queue;
  logger?: Logger;
  /** Defaults to the backend named by INTERNAL_WORKER_BACKEND. */
  backendFactory?: () => Backend;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

export function internalWorkerId(n: number): string {
  return `worker-${String(n).padStart(3, '0')}-internal`;
}

export class WorkerManager implements WorkerPoolControl {
  private workers: Worker[] = [];
  private target: number;
  private running = false;
  private readonly transport: DirectTransport;
  private readonly makeBackend: () => Backend;
  private logger: Logger;
  // scale/start/stop run one at a time, so concurrent calls cannot interleave half-done resizes.
  private serial: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: WorkerManagerDeps) {
    this.target = deps.config.NUM_INTERNAL_WORKERS;
    this.transport = new DirectTransport(deps.queue);
    this.makeBackend =
      deps.backendFactory ?? (() => createBackend(deps.config.INTERNAL_WORKER_BACKEND, deps.config));
    this.logger = deps.logger ?? silent;
  }

  setLogger(logger: Logger): void {
    this.logger = logger;
  }

  status(): PoolStatus {
    return {
      running: this.running,
      num_workers: this.running ? this.workers.length : this.target,
      backend_type: this.deps.config.INTERNAL_WORKER_BACKEND,
      auto_start: this.deps.config.AUTO_START_WORKERS,
      workers: this.workers.map((w) => w.status()),
    };
  }

  start(): Promise<PoolStatus> {
    return this.serialise(async () => {
      this.running = true;
      await this.resize(this.target);
    });
  }

  stop(): Promise<PoolStatus> {
    return this.serialise(async () => {
      this.running = false;
      await this.resize(0);
    });
  }

  scale(numWorkers: number): Promise<PoolStatus> {
    if (!Number.isInteger(numWorkers) || numWorkers < 0 || numWorkers > MAX_INTERNAL_WORKERS)
      return Promise.reject(
        new RangeError(`num_workers must be an integer from 0 to ${MAX_INTERNAL_WORKERS}`),
      );
    return this.serialise(async () => {
      this.target = numWorkers;
      if (this.running) await this.resize(numWorkers);
    });
  }

  private serialise(fn: () => Promise<void>): Promise<PoolStatus> {
    const next = this.serial.then(fn);
    this.serial = next.catch(() => {});
    return next.then(() => this.status());
  }

  private async resize(n: number): Promise<void> {
    const c = this.deps.config;
    while (this.workers.length < n) {
      const worker = new Worker({
        id: internalWorkerId(this.workers.length + 1),
        backend: this.makeBackend(),
        transport: this.transport,
        maxParallel: c.INTERNAL_WORKER_MAX_PARALLEL,
        pollIntervalMs: c.WORKER_POLL_INTERVAL * 1000,
        heartbeatIntervalMs: c.HEARTBEAT_INTERVAL * 1000,
        dataDir: c.DATA_DIR,
        logger: this.logger,
        metadata: { internal: true },
      });
      await worker.start();
      this.workers.push(worker);
    }
    const extra = this.workers.splice(n);
    await Promise.all(extra.map((w) => w.stop(c.WORKER_SHUTDOWN_GRACE * 1000)));
  }
}
