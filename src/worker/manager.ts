/**
 * WorkerManager: the in-process worker pool (ids worker-NNN-<backend>, e.g. worker-001-sandbox,
 * as the predecessor's in-process workers were worker-00X-kind): INTERNAL_WORKER_BACKENDS
 * (e.g. sandbox:2,command:1), else NUM_INTERNAL_WORKERS workers of INTERNAL_WORKER_BACKEND.
 * All its workers share one DirectTransport, so their completions land in shared batches.
 * Scaling down drains the removed workers in the background (they show as `draining` until
 * their tasks finish or are given back); stop() waits for every worker to be gone.
 */
import { BACKEND_TYPES, type Backend, createBackend } from '../backends/index.ts';
import { type Config, ConfigError } from '../config/index.ts';
import type { Queue } from '../queue/index.ts';
import { type AttemptsLink, DirectTransport } from './direct.ts';
import type { PoolStatus, WorkerPoolControl } from './pool.ts';
import { type Logger, Worker } from './worker.ts';

export const MAX_INTERNAL_WORKERS = 50;

export interface WorkerManagerDeps {
  config: Config;
  queue: Queue;
  logger?: Logger;
  /** Defaults to createBackend: a new backend of the worker's type per worker. */
  backendFactory?: (type: string) => Backend;
  /** Extra environment for each task's child processes. */
  envFor?: ConstructorParameters<typeof Worker>[0]['envFor'];
  /**
   * This replica's block of worker numbers (its replica slot × 50): ids run from idBase+1, so
   * two API replicas never share a worker row. 0 for a single process.
   */
  idBase?: number;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

/**
 * Worker number n (unique: this replica's block, see idBase) driving `backend`. The number
 * alone makes the id unique; the backend in it tells a reader what the worker runs. Remote
 * workers cannot take these ids while WORKER_ID_PATTERN keeps to -kind (and -internal).
 */
export function internalWorkerId(n: number, backend: string): string {
  return `worker-${String(n).padStart(3, '0')}-${backend}`;
}

/**
 * The backend of each worker slot, in order, and the number of workers to start. A scale to
 * N cycles the slots, so sandbox:2,command:1 scaled to 6 keeps the 2:1 mix.
 */
export function internalWorkerPlan(
  config: Pick<Config, 'INTERNAL_WORKER_BACKENDS' | 'INTERNAL_WORKER_BACKEND' | 'NUM_INTERNAL_WORKERS'>,
): { slots: string[]; workers: number } {
  const counts = config.INTERNAL_WORKER_BACKENDS.filter((b) => b.count > 0);
  if (counts.length === 0)
    return { slots: [config.INTERNAL_WORKER_BACKEND], workers: config.NUM_INTERNAL_WORKERS };
  const slots = counts.flatMap((b) => Array.from({ length: b.count }, () => b.backend));
  return { slots, workers: slots.length };
}

/** Refuses a plan naming a backend this build does not have, before any worker starts. */
export function checkWorkerPlan(slots: readonly string[]): void {
  const unknown = [...new Set(slots)].filter((t) => !BACKEND_TYPES.includes(t));
  if (unknown.length > 0)
    throw new ConfigError(
      `Invalid configuration: unknown backend ${unknown.map((t) => `"${t}"`).join(', ')} in INTERNAL_WORKER_BACKENDS / INTERNAL_WORKER_BACKEND; known: ${BACKEND_TYPES.join(', ')}`,
    );
}

export class WorkerManager implements WorkerPoolControl {
  private active: Worker[] = [];
  private readonly draining = new Map<Worker, Promise<void>>();
  /** Each worker's number in this replica's block (its id is worker-<idBase+n>-<backend>). */
  private readonly numbers = new WeakMap<Worker, number>();
  private target: number;
  private running = false;
  private readonly transport: DirectTransport;
  private readonly makeBackend: (type: string) => Backend;
  private readonly slots: string[];
  private logger: Logger;
  // scale/start/stop run one at a time, so concurrent calls cannot interleave half-done resizes.
  private serial: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: WorkerManagerDeps) {
    const plan = internalWorkerPlan(deps.config);
    this.slots = plan.slots;
    this.target = plan.workers;
    this.transport = new DirectTransport(deps.queue);
    this.makeBackend = deps.backendFactory ?? ((type) => createBackend(type, deps.config));
    this.logger = deps.logger ?? silent;
  }

  /**
   * Connects the pool to the server once it listens: the attempts service (claims with their
   * gateway tokens, reports), the gateway address for agents, and the server's logger. The
   * one place the pool is wired; its workers claim nothing before it.
   */
  attach(link: AttemptsLink & { logger?: Logger }): void {
    this.transport.attach(link);
    if (link.logger) this.logger = link.logger;
  }

  status(): PoolStatus {
    const all = [...this.active, ...this.draining.keys()].map((w) => w.status());
    return {
      running: this.running,
      num_workers: this.running ? this.active.length : this.target,
      backend_type: [...new Set(this.slots)].join(','),
      auto_start: this.deps.config.AUTO_START_WORKERS,
      workers: all.sort((a, b) => a.worker_id.localeCompare(b.worker_id)),
    };
  }

  /** Starts the target number of workers (from the configuration, or the last scale). */
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
      const worker = this.newWorker(this.freeNumber());
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

  /** The lowest number (1-based in this replica's block) no live or draining worker uses, so ids stay small and never collide. */
  private freeNumber(): number {
    const used = new Set([...this.active, ...this.draining.keys()].map((w) => this.numbers.get(w)));
    for (let n = 1; ; n++) if (!used.has(n)) return n;
  }

  /** Worker n drives slot n-1, cycling: numbers and backends stay paired across scales. */
  private backendOf(n: number): string {
    return this.slots[(n - 1) % this.slots.length]!;
  }

  private newWorker(n: number): Worker {
    const c = this.deps.config;
    const backend = this.backendOf(n);
    const worker = new Worker({
      id: internalWorkerId((this.deps.idBase ?? 0) + n, backend),
      backend: this.makeBackend(backend),
      transport: this.transport,
      maxParallel: c.INTERNAL_WORKER_MAX_PARALLEL,
      pollIntervalMs: c.WORKER_POLL_INTERVAL * 1000,
      heartbeatIntervalMs: c.HEARTBEAT_INTERVAL * 1000,
      dataDir: c.DATA_DIR,
      // The logger is read through this object on every call, so attach reaches live workers.
      logger: {
        info: (o, m) => this.logger.info(o, m),
        warn: (o, m) => this.logger.warn(o, m),
        error: (o, m) => this.logger.error(o, m),
      },
      metadata: { internal: true },
      envFor: this.deps.envFor,
    });
    this.numbers.set(worker, n);
    return worker;
  }
}
