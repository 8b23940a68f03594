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
  attempt: number;
  /** A fresh directory of this attempt's own (created by the worker). */
  workDir: string;
  log(level: LogLevel, message: string, context?: Json, source?: string): void;
  /** Extra environment for child processes (e.g. the LLM gateway URL and task token). */
  env: Record<string, string>;
}

export type RunOutcome =
  | { status: 'completed'; result: Json }
  | { status: 'failed'; error: JsonObject; retryable?: boolean };

export interface Backend {
  readonly type: string;
  run(task: Task, ctx: RunContext): Promise<RunOutcome>;
}

export function stopReason(signal: AbortSignal): StopReason | null {
  return signal.aborted && signal.reason instanceof RunStopped ? signal.reason.why : null;
}
