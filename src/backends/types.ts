/**
 * The environment interface the worker drives. A backend runs one attempt of one task and
 * says how it ended; the worker owns claiming, heartbeats, logs and reporting. Later
 * environments (the AIOpsLab bridge, the offline sandbox) plug in here.
 */
import type { Json, JsonObject, LogLevel, Task } from '../queue/types.ts';

/** Why a run was stopped from outside. */
export type StopReason = 'cancel' | 'timeout' | 'shutdown' | 'lost';

export class RunStopped extends Error {
  override name = 'RunStopped';
  constructor(readonly why: StopReason) {
    super(`run stopped: ${why}`);
  }
}

export interface RunContext {
  /** Aborted with a RunStopped reason on cancel, deadline, worker shutdown, or lost lease. */
  signal: AbortSignal;
  /** The fencing attempt this run belongs to (1 on the first claim). */
  attempt: number;
  workerId: string;
  /**
   * This attempt's own directory, absolute: `${DATA_DIR}/runs/<task>/attempt-<n>`. The worker
   * only reserves the path; a backend that needs it creates it (a mkdir per task would cost
   * more than a whole run of a trivial backend).
   */
  workDir: string;
  /** Appends a task log line; batched and shipped by the worker. Never throws, never blocks. */
  log(level: LogLevel, message: string, context?: Json, source?: string): void;
  /** Extra environment for child processes. */
  env: Record<string, string>;
  /** The recording LLM gateway for this attempt's agent; null when the server gave none. */
  llm: LlmEndpoint | null;
}

export interface LlmEndpoint {
  /** OpenAI-compatible base URL (…/llm/v1). */
  baseUrl: string;
  /** The attempt's task token, valid while the attempt runs. */
  apiKey: string;
}

/**
 * How a run ended, as data. `completed` = the episode ran to its end whatever the score (the
 * score belongs in `result`); `failed` = an infrastructure or protocol failure, and
 * `retryable` asks the queue for another attempt while attempts remain.
 */
export type RunOutcome =
  | { status: 'completed'; result: Json }
  | { status: 'failed'; error: JsonObject; retryable?: boolean };

export interface Backend {
  readonly type: string;
  /** Problem ids (or globs) this backend can run, advertised at registration; absent = any. */
  problems?(): Promise<string[]>;
  /**
   * Why this backend cannot run any task as configured (no command set, a program missing…),
   * null when it can. Checked once at start: a remote worker refuses to start, an in-process
   * worker claims nothing and says why; otherwise it would claim every task and fail each.
   */
  unavailable?(): string | null;
  /** Runs one attempt. Must settle soon after `ctx.signal` aborts, with its processes gone. */
  run(task: Task, ctx: RunContext): Promise<RunOutcome>;
  /**
   * Why the backend must not take a task now (a dirty cluster to reset…), null when ready.
   * While it gives a reason the worker claims nothing, shows the reason in its heartbeats
   * (metadata.status_reason), and once none of its runs is left calls prepare().
   */
  notReady?(): string | null;
  /** Makes the backend ready again; a rejection is logged and prepare is tried again later. */
  prepare?(signal: AbortSignal, log: PrepareLog): Promise<void>;
  /** Frees what the backend keeps across runs (a cluster, a pool). */
  close?(): Promise<void>;
}

/** Where prepare() reports progress: the worker's own log (there is no task to log to). */
export type PrepareLog = (level: LogLevel, message: string) => void;

export function stopReason(signal: AbortSignal): StopReason | null {
  return signal.aborted && signal.reason instanceof RunStopped ? signal.reason.why : null;
}
