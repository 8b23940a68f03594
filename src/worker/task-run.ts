/**
 * One claimed attempt of one task, from backend start to the report: its abort controller
 * (cancel, deadline, shutdown, lost lease), its log batcher, and the one fenced call that
 * ends it. The worker loop only starts runs and routes stop requests to them.
 */
import { join, resolve } from 'node:path';
import {
  type Backend,
  type LlmEndpoint,
  type RunOutcome,
  RunStopped,
  type StopReason,
  stopReason,
} from '../backends/index.ts';
import type { Json, Lease, LogLevel, Task } from '../queue/types.ts';
import { LogBatcher } from './log-batcher.ts';
import { HttpError, isTransient, type WorkerTransport } from './transport.ts';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RunDeps {
  workerId: string;
  backend: Backend;
  transport: WorkerTransport;
  dataDir: string;
  logger: Logger;
  env: Record<string, string>;
  llm: LlmEndpoint | null;
  now: () => number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Report attempts on transient errors (≈ 15 s in all); the lease is heartbeated meanwhile. */
const REPORT_ATTEMPTS = 6;

const STOP_MESSAGES: Record<StopReason, string> = {
  cancel: 'Stopped: cancel requested',
  timeout: 'Stopped: the task reached its deadline',
  shutdown: 'Stopped: the worker is shutting down; the task goes back to the queue',
  lost: 'Stopped: this worker no longer holds the task',
};

export class TaskRun {
  readonly lease: Lease;
  /** Settles when the run has been reported (set by whoever calls execute). */
  done: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private readonly logs: LogBatcher;
  /** Until the backend returns; later stop requests cannot change what gets reported. */
  private running = true;
  private lost = false;

  constructor(
    readonly task: Task,
    private readonly d: RunDeps,
  ) {
    this.lease = { task_id: task.id, attempt: task.attempt };
    this.logs = new LogBatcher(
      (batch) => d.transport.appendLogs(d.workerId, this.lease, batch),
      (err) => d.logger.warn({ err, task_id: task.id }, 'log append failed; lines dropped'),
    );
  }

  /** Heartbeats keep extending this lease until the run is reported or known lost. */
  get holdsLease(): boolean {
    return !this.lost;
  }

  stop(why: StopReason): void {
    if (why === 'lost') this.lost = true;
    if (this.running && !this.abort.signal.aborted) this.abort.abort(new RunStopped(why));
  }

  /** Runs the backend and reports; never rejects (trouble is logged). */
  async execute(): Promise<void> {
    try {
      const outcome = await this.runBackend();
      this.running = false;
      const why = stopReason(this.abort.signal) ?? undefined;
      if (why === 'lost') {
        this.logs.discard();
        return;
      }
      if (why) this.log('warning', STOP_MESSAGES[why], { deadline_at: this.task.deadline_at });
      await this.logs.flush();
      await this.report(why, outcome);
    } catch (err) {
      this.d.logger.error({ err, task_id: this.task.id }, 'run failed unexpectedly');
    } finally {
      this.lost = true;
    }
  }

  private async runBackend(): Promise<RunOutcome> {
    const { task, d } = this;
    const timer = this.armDeadline();
    try {
      if (this.abort.signal.aborted)
        return { status: 'failed', error: { reason: 'stopped', message: 'Stopped before it started' } };
      return await d.backend.run(task, {
        signal: this.abort.signal,
        attempt: task.attempt,
        workerId: d.workerId,
        workDir: resolve(join(d.dataDir, 'runs', task.id, `attempt-${task.attempt}`)),
        log: (level, message, context, source) => this.log(level, message, context, source),
        env: d.env,
        llm: d.llm,
      });
    } catch (err) {
      return {
        status: 'failed',
        error: { reason: 'backend_error', message: String((err as Error)?.message ?? err) },
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the run locally when its deadline passes, even if the reaper is late or off. */
  private armDeadline(): NodeJS.Timeout | undefined {
    if (!this.task.deadline_at) return undefined;
    const ms = Date.parse(this.task.deadline_at) - this.d.now();
    return setTimeout(() => this.stop('timeout'), Math.max(0, Math.min(ms, MAX_TIMER_MS)));
  }

  private log(level: LogLevel, message: string, context?: Json, source?: string): void {
    this.logs.add({ level, message, context: context ?? null, source: source ?? 'worker' });
  }

  /**
   * The one report that ends this attempt. A finished result is kept whatever stopped the run
   * meanwhile. A deadline is not reported: the reaper ends the task `timeout` on the
   * database's clock, where a fail report would record it as plain `failed`. A shutdown gives
   * the task back uncharged; a cancel reports failure, which the queue records as cancelled.
   */
  private async report(why: StopReason | undefined, outcome: RunOutcome): Promise<void> {
    const { transport: t, workerId: id } = this.d;
    const lease = this.lease;
    let call: (() => Promise<boolean>) | undefined;
    if (outcome.status === 'completed') call = () => t.complete(id, lease, outcome.result);
    else if (why === 'shutdown') call = () => t.release(id, lease);
    else if (why === 'cancel')
      call = () =>
        t.fail(
          id,
          lease,
          { reason: 'cancelled', message: 'Cancelled on request', run: outcome.error },
          false,
        );
    else if (why === undefined) call = () => t.fail(id, lease, outcome.error, outcome.retryable ?? false);
    if (!call) return;
    let accepted = await this.withRetry(call);
    if (typeof accepted === 'object' && why !== 'shutdown') {
      // The API refused the report for what it carried (a result over the body limit, a value
      // it cannot take): sending it again cannot help. End the attempt now as a failure that
      // says so, rather than leave the task leased until the reaper calls it "worker lost".
      const { status, detail } = accepted;
      const error =
        status === 413
          ? { reason: 'result_too_large', message: 'The result exceeded the API body limit (413)' }
          : { reason: 'report_refused', message: `The API refused the report: ${detail}`.slice(0, 2000) };
      accepted = await this.withRetry(() => t.fail(id, lease, error, false));
    }
    if (accepted === false)
      this.d.logger.info(
        { task_id: lease.task_id, attempt: lease.attempt },
        'report refused: the task moved on',
      );
  }

  /**
   * The report's answer: true/false (accepted, or refused by the fence), a content refusal
   * (HTTP 400/413/422, or a value that cannot even be serialised), or undefined when it could
   * not be delivered at all (its lease will lapse).
   */
  private async withRetry(
    call: () => Promise<boolean>,
  ): Promise<boolean | { status: number | null; detail: string } | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const refused = contentRefusal(err);
        if (refused) return refused;
        if (attempt >= REPORT_ATTEMPTS || !isTransient(err)) {
          this.d.logger.error(
            { err, task_id: this.task.id, attempt: this.task.attempt },
            'could not report the task; its lease will lapse and the reaper takes it back',
          );
          return undefined;
        }
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt * Math.random()));
      }
    }
  }
}

/** A refusal of what the report carried, as opposed to trouble reaching the API. */
function contentRefusal(err: unknown): { status: number | null; detail: string } | null {
  if (err instanceof HttpError && [400, 413, 422].includes(err.status))
    return { status: err.status, detail: `HTTP ${err.status} ${err.code}: ${err.message}` };
  // JSON.stringify of a cyclic or absurdly deep result, before anything was sent.
  if (err instanceof RangeError || err instanceof TypeError)
    return { status: null, detail: `${err.name}: ${err.message}` };
  return null;
}
