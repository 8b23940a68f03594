/**
 * WorkerManager: the in-process worker pool (NUM_INTERNAL_WORKERS, ids worker-001-internal…).
 * All its workers share one DirectTransport, so their completions land in shared batches.
 * Scaling down drains the removed workers in the background (they show as `draining` until
 * their tasks finish or are given back); stop() waits for every worker to be gone.
 */
import { type Backend, createBackend } from '../backends/index.ts';
import type { Config } from '../config/index.ts';
import type { Queue } from '../queue/index.ts';
import { DirectTransport, type GatewayLink } from './direct.ts';
import type { PoolStatus, WorkerPoolControl } from './pool.ts';
import { type Logger, Worker } from './worker.ts';

export const MAX_INTERNAL_WORKERS = 50;

export interface WorkerManagerDeps {
  config: Config;
  queue: Queue;
  logger?: Logger;
  /** Defaults to a new backend of type INTERNAL_WORKER_BACKEND per worker. */
  backendFactory?: () => Backend;
  /** Extra environment for each task's child processes. */
  envFor?: ConstructorParameters<typeof Worker>[0]['envFor'];
}

const silent: Logger = { info() {}, warn() {}, error() {} };

export function internalWorkerId(n: number): string {
  return `worker-${String(n).padStart(3, '0')}-internal`;
}

export class WorkerManager implements WorkerPoolControl {
  private active: Worker[] = [];
  private readonly draining = new Map<Worker, Promise<void>>();
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

  /** The LLM gateway for the pool's tasks (the server sets it once it listens). */
  setGateway(link: GatewayLink): void {
    this.transport.setGateway(link);
  }

  /** The server's logger exists only once the app is built, after the pool. */
  setLogger(logger: Logger): void {
    this.logger = logger;
  }

  status(): PoolStatus {
    const all = [...this.active, ...this.draining.keys()].map((w) => w.status());
    return {
      running: this.running,
      num_workers: this.running ? this.active.length : this.target,
      backend_type: this.deps.config.INTERNAL_WORKER_BACKEND,
      auto_start: this.deps.config.AUTO_START_WORKERS,
      workers: all.sort((a, b) => a.worker_id.localeCompare(b.worker_id)),
    };
  }

  /** Starts the target number of workers (NUM_INTERNAL_WORKERS, or the last scale). */
  start(): Promise<PoolStatus> {
    return this.serialise(async () => {
      this.running = true;
      await this.resize(this.target, this.graceMs());
    });
  }

  /** Stops every worker: running tasks get `graceMs` (WORKER_SHUTDOWN_GRACE) to finish, then go back. */
  stop(opts: { graceMs?: number } = {}): Promise<PoolStatus> {
    return this.serialise(async () => {
      const grace = opts.graceMs ?? this.graceMs();
      this.running = false;
      await this.resize(0, grace);
      // Workers drained by an earlier scale-down wait no longer than this stop allows.
      for (const w of this.draining.keys()) void w.stop(grace);
      await Promise.all(this.draining.values());
      await this.transport.close();
    });
  }

  scale(numWorkers: number): Promise<PoolStatus> {
    if (!Number.isInteger(numWorkers) || numWorkers < 0 || numWorkers > MAX_INTERNAL_WORKERS)
      return Promise.reject(
        new RangeError(`num_workers must be an integer from 0 to ${MAX_INTERNAL_WORKERS}`),
      );
    return this.serialise(async () => {
      this.target = numWorkers;
      if (this.running) await this.resize(numWorkers, this.graceMs());
    });
  }

  private graceMs(): number {
    return this.deps.config.WORKER_SHUTDOWN_GRACE * 1000;
  }

  private serialise(fn: () => Promise<void>): Promise<PoolStatus> {
    const next = this.serial.then(fn);
    this.serial = next.catch(() => {});
    return next.then(() => this.status());
  }

  private async resize(n: number, graceMs: number): Promise<void> {
    while (this.active.length < n) {
      const worker = this.newWorker(this.freeId());
      await worker.start();
      this.active.push(worker);
    }
    for (const w of this.active.splice(n)) {
      this.draining.set(
        w,
        w
          .stop(graceMs)
          .catch((err) => this.logger.error({ err, worker_id: w.id }, 'worker stop failed'))
          .finally(() => this.draining.delete(w)),
      );
    }
  }

  /** The lowest number no live or draining worker uses, so ids stay small and never collide. */
  private freeId(): string {
    const used = new Set([...this.active, ...this.draining.keys()].map((w) => w.id));
    for (let n = 1; ; n++) if (!used.has(internalWorkerId(n))) return internalWorkerId(n);
  }

  private newWorker(id: string): Worker {
    const c = this.deps.config;
    return new Worker({
      id,
      backend: this.makeBackend(),
      transport: this.transport,
      maxParallel: c.INTERNAL_WORKER_MAX_PARALLEL,
      pollIntervalMs: c.WORKER_POLL_INTERVAL * 1000,
      heartbeatIntervalMs: c.HEARTBEAT_INTERVAL * 1000,
      dataDir: c.DATA_DIR,
      // The logger is read through this object on every call, so setLogger reaches live workers.
      logger: {
        info: (o, m) => this.logger.info(o, m),
        warn: (o, m) => this.logger.warn(o, m),
        error: (o, m) => this.logger.error(o, m),
      },
      metadata: { internal: true },
      envFor: this.deps.envFor,
    });
  }
}
