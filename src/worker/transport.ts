/**
 * How a worker talks to the queue: directly (in-process) or over HTTP (remote). The worker
 * loop is written once against this interface. Report calls resolve false when the queue
 * refused them by fencing (the task moved on: reaped, timed out, cancelled, re-claimed);
 * they throw only for trouble worth retrying or logging (database or network down).
 */
import { QueueError } from '../queue/errors.ts';
import type { Json, JsonObject, Lease, NewLog, Task, WorkerStatus } from '../queue/types.ts';

export interface Registration {
  id: string;
  backend_type: string;
  max_parallel_tasks: number;
  supported_problems: string[];
  metadata: JsonObject;
}

/** Where an attempt's agent reaches the LLM gateway, and its task token there. */
export interface LlmAccess {
  llm_base_url: string;
  llm_api_key: string;
}

/** A claimed task as a transport hands it over: with gateway access when the server gives it. */
export type ClaimedTask = Task & Partial<LlmAccess>;

export interface HeartbeatReply {
  /** Leases this worker sent that the queue no longer grants: stop those runs, report nothing. */
  lost: string[];
  /** Held tasks a user asked to cancel: stop them and report. */
  cancel_requested: string[];
}

export interface WorkerTransport {
  register(reg: Registration): Promise<void>;
  /**
   * Claims up to `max` tasks. When none are ready it may wait for work (long-poll or a
   * wake-up) for up to `waitMs`, returning early if `signal` aborts; it returns [] then.
   */
  claim(workerId: string, max: number, waitMs: number, signal: AbortSignal): Promise<ClaimedTask[]>;
  /** `reason`: why the worker claims nothing now (null: it claims); see Backend.notReady. */
  heartbeat(
    workerId: string,
    status: WorkerStatus,
    leases: Lease[],
    reason?: string | null,
  ): Promise<HeartbeatReply>;
  appendLogs(workerId: string, lease: Lease, logs: NewLog[]): Promise<boolean>;
  complete(workerId: string, lease: Lease, result: Json): Promise<boolean>;
  fail(workerId: string, lease: Lease, error: Json, retry: boolean): Promise<boolean>;
  release(workerId: string, lease: Lease): Promise<boolean>;
  /**
   * Where a transport that claims along with its reports (HTTP: `claim_next`) hands the tasks
   * so claimed to the worker. Returns the detach function.
   */
  attachWorker?(workerId: string, taker: ClaimTaker): () => void;
  /** Push delivery of cancel requests, where the transport has it (in-process). */
  onCancel?(fn: (taskId: string) => void): () => void;
  close?(): Promise<void>;
}

/** The worker side of claim-along-with-report. */
export interface ClaimTaker {
  /** Whether the worker takes more tasks now (false while it drains or its backend is not ready). */
  accepting(): boolean;
  /** Starts the tasks a report claimed (each is leased to this worker already). */
  take(tasks: ClaimedTask[]): void;
}

/** A refusal of the REST API: its status and the `code` of its `{ error, code, details }` body. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The queue's reason code of a refusal, whichever transport carried it. */
export function errorCode(err: unknown): string | undefined {
  if (err instanceof QueueError || err instanceof HttpError) return err.code;
  return undefined;
}

/**
 * Worth trying again later: the database or the network failed, or the API said 5xx/429.
 * A refusal by the queue (4xx, QueueError) will be refused again, so it is not.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof QueueError) return false;
  if (err instanceof HttpError) return err.status >= 500 || err.status === 429;
  return true;
}
