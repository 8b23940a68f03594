/**
 * How a worker talks to the queue: directly (in-process) or over HTTP (remote). The worker
 * loop is written once against this interface. Report calls resolve false when the queue
 * refused them by fencing (the task moved on: reaped, timed out, cancelled, re-claimed).
 */
import type { Json, JsonObject, Lease, NewLog, Task, WorkerStatus } from '../queue/types.ts';

export interface Registration {
  id: string;
  backend_type: string;
  max_parallel_tasks: number;
  supported_problems: string[];
  metadata: JsonObject;
}

export interface HeartbeatReply {
  lost: string[];
  cancel_requested: string[];
}

export interface WorkerTransport {
  register(reg: Registration): Promise<void>;
  /**
   * Claims up to `max` tasks. When none are ready it may wait for work (long-poll or a
   * wake-up) for up to `waitMs`, returning early if `signal` aborts; it returns [] then.
   */
  claim(workerId: string, max: number, waitMs: number, signal: AbortSignal): Promise<Task[]>;
  heartbeat(workerId: string, status: WorkerStatus, leases: Lease[]): Promise<HeartbeatReply>;
  appendLogs(workerId: string, lease: Lease, logs: NewLog[]): Promise<boolean>;
  complete(workerId: string, lease: Lease, result: Json): Promise<boolean>;
  fail(workerId: string, lease: Lease, error: Json, retry: boolean): Promise<boolean>;
  release(workerId: string, lease: Lease): Promise<boolean>;
  /** Push delivery of cancel requests, where the transport has it (in-process). */
  onCancel?(fn: (taskId: string) => void): () => void;
  close?(): Promise<void>;
}
