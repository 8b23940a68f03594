/** What the API needs from the in-process worker pool (WorkerManager implements it). */
export interface PoolWorkerStatus {
  worker_id: string;
  backend_type: string;
  /** `unavailable`: its backend cannot run as configured, so it claims nothing (status_reason says why). */
  state: 'starting' | 'running' | 'unavailable' | 'draining' | 'stopped';
  running_tasks: string[];
  /** Why the worker claims nothing, or null. */
  status_reason?: string | null;
}

export interface PoolStatus {
  running: boolean;
  num_workers: number;
  /** The backends the pool's workers drive, comma-separated (e.g. `sandbox,command`). */
  backend_type: string;
  auto_start: boolean;
  workers: PoolWorkerStatus[];
}

export interface WorkerPoolControl {
  status(): PoolStatus;
  /** Sets the number of in-process workers (0–50), starting or draining workers as needed. */
  scale(numWorkers: number): Promise<PoolStatus>;
  start(): Promise<PoolStatus>;
  stop(): Promise<PoolStatus>;
}
