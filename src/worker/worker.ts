/**
 * The worker loop, one implementation for in-process and remote workers:
 * register → claim up to free slots → run each task in its backend → heartbeat (extends
 * leases, brings cancel requests and lost leases) → logs in batches → complete / fail.
 * Graceful stop: stop claiming, let runs finish for the grace period, then give them back.
 */
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Backend, type RunOutcome, RunStopped, stopReason } from '../backends/index.ts';
import type { Json, JsonObject, Lease, LogLevel, Task } from '../queue/types.ts';
import { LogBatcher } from './log-batcher.ts';
import type { PoolWorkerStatus } from './pool.ts';
import type { WorkerTransport } from './transport.ts';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface WorkerOptions {
  id: string;
  backend: Backend;
  transport: WorkerTransport;
  maxParallel: number;
  supportedProblems?: string[];
  metadata?: JsonObject;
  /** How long one claim may wait for work (wake-up or long-poll) before trying again. */
  pollIntervalMs: number;
  heartbeatIntervalMs: number;
  /** Attempt working directories go under DATA_DIR/runs/<task>/attempt-<n>. */
  dataDir: string;
  logger: Logger;
  /** Extra environment for a task's child processes. */
  envFor?: (task: Task) => Record<string, string>;
}

interface Run {
  task: Task;
  lease: Lease;
  abort: AbortController;
  done: Promise<void>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class Worker {
  private state: PoolWorkerStatus['state'] = 'starting';
  private readonly runs = new Map<string, Run>();
  private readonly stopClaiming = new AbortController();
  private slotWaiters: Array<() => void> = [];
  private loopDone: Promise<void> = Promise.resolve();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private unsubscribeCancel: (() => void) | undefined;

  constructor(private readonly o: WorkerOptions) {}

  get id(): string {
    return this.o.id;
  }

  status(): PoolWorkerStatus {
    return { worker_id: this.o.id, state: this.state, running_tasks: [...this.runs.keys()] };
  }

  async start(): Promise<void> {
    await this.o.transport.register({
      id: this.o.id,
      backend_type: this.o.backend.type,
      max_parallel_tasks: this.o.maxParallel,
      supported_problems: this.o.supportedProblems ?? [],
      metadata: { host: hostname(), pid: process.pid, ...this.o.metadata },
    });
    this.unsubscribeCancel = this.o.transport.onCancel?.((taskId) => this.stopRun(taskId, 'cancel'));
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.o.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    this.state = 'running';
    this.loopDone = this.claimLoop();
  }

  /** Stops claiming, waits up to graceMs for running tasks, then stops and releases the rest. */
  async stop(graceMs: number): Promise<void> {
    if (this.state === 'stopped' || this.state === 'draining') return this.loopDone;
    this.state = 'draining';
    this.stopClaiming.abort();
    this.wakeSlotWaiters();
    await this.heartbeat();
    await this.loopDone;
    const finished = Promise.all([...this.runs.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const id of this.runs.keys()) this.stopRun(id, 'shutdown');
    await Promise.all([...this.runs.values()].map((r) => r.done));
    clearInterval(this.heartbeatTimer);
    this.unsubscribeCancel?.();
    await this.beating;
    await this.o.transport.heartbeat(this.o.id, 'offline', []).catch(() => {});
    this.state = 'stopped';
  }

  private async claimLoop(): Promise<void> {
    let failures = 0;
    const signal = this.stopClaiming.signal;
    while (!signal.aborted) {
      const free = this.o.maxParallel - this.runs.size;
      if (free <= 0) {
        await new Promise<void>((r) => this.slotWaiters.push(r));
        continue;
      }
      let tasks: Task[];
      try {
        tasks = await this.o.transport.claim(this.o.id, free, this.o.pollIntervalMs, signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        this.o.logger.warn({ err, worker_id: this.o.id }, 'claim failed; retrying');
        await abortableSleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)), signal);
        continue;
      }
      for (const task of tasks) this.startRun(task);
    }
  }

  private startRun(task: Task): void {
    const run: Run = {
      task,
      lease: { task_id: task.id, attempt: task.attempt },
      abort: new AbortController(),
      done: Promise.resolve(),
    };
    this.runs.set(task.id, run);
    // Claimed while shutting down: give it straight back.
    if (this.stopClaiming.signal.aborted) run.abort.abort(new RunStopped('shutdown'));
    run.done = this.execute(run)
      .catch((err) => this.o.logger.error({ err, task_id: task.id }, 'run failed unexpectedly'))
      .finally(() => {
        this.runs.delete(task.id);
        this.wakeSlotWaiters();
      });
  }

  private async execute(run: Run): Promise<void> {
    const { task, lease, abort } = run;
    const deadline = task.deadline_at ? Date.parse(task.deadline_at) - Date.now() : null;
    const timer =
      deadline === null
        ? undefined
        : setTimeout(
            () => abort.abort(new RunStopped('timeout')),
            Math.max(0, Math.min(deadline, MAX_TIMER_MS)),
          );
    const logs = new LogBatcher(
      (batch) => this.o.transport.appendLogs(this.o.id, lease, batch),
      (err) => this.o.logger.warn({ err, task_id: task.id }, 'log append failed'),
    );
    const log = (level: LogLevel, message: string, context?: Json, source?: string) =>
      logs.add({ level, message, context: context ?? null, source: source ?? 'worker' });
    let outcome: RunOutcome;
    try {
      const workDir = join(this.o.dataDir, 'runs', task.id, `attempt-${task.attempt}`);
      await mkdir(workDir, { recursive: true });
      outcome = abort.signal.aborted
        ? { status: 'failed', error: { reason: 'shutdown', message: 'Worker shutting down' } }
        : await this.o.backend.run(task, {
            signal: abort.signal,
            attempt: task.attempt,
            workDir,
            log,
            env: this.o.envFor?.(task) ?? {},
          });
    } catch (err) {
      outcome = {
        status: 'failed',
        error: { reason: 'backend_error', message: (err as Error).message ?? String(err) },
      };
    } finally {
      clearTimeout(timer);
    }
    // Only what the backend logged: claim, attempt and outcome are on the task row already,
    // and a per-task lifecycle line would double the writes of every short task.
    await logs.flush();
    await this.report(run, outcome);
  }

  private async report(run: Run, outcome: RunOutcome): Promise<void> {
    const { lease } = run;
    const t = this.o.transport;
    const why = stopReason(run.abort.signal);
    // lost: the queue already gave the task to someone else or ended it; timeout: the reaper
    // ends it `timeout` (a fail report here would record it as failed instead).
    if (why === 'lost' || why === 'timeout') return;
    let accepted: boolean;
    if (why === 'shutdown') accepted = await t.release(this.o.id, lease);
    else if (why === 'cancel')
      accepted = await t.fail(
        this.o.id,
        lease,
        { reason: 'cancelled', message: 'Cancelled on request' },
        false,
      );
    else if (outcome.status === 'completed') accepted = await t.complete(this.o.id, lease, outcome.result);
    else accepted = await t.fail(this.o.id, lease, outcome.error, outcome.retryable ?? false);
    if (!accepted)
      this.o.logger.info(
        { task_id: lease.task_id, attempt: lease.attempt },
        'report refused: the task moved on',
      );
  }

  private stopRun(taskId: string, why: RunStopped['why']): void {
    const run = this.runs.get(taskId);
    if (run && !run.abort.signal.aborted) run.abort.abort(new RunStopped(why));
  }

  /** One heartbeat at a time; a failed one is only logged (the next may get through). */
  private heartbeat(): Promise<void> {
    this.beating ??= this.beatOnce().finally(() => {
      this.beating = undefined;
    });
    return this.beating;
  }

  private async beatOnce(): Promise<void> {
    const leases = [...this.runs.values()].map((r) => r.lease);
    try {
      const reply = await this.o.transport.heartbeat(
        this.o.id,
        this.state === 'draining' ? 'draining' : 'idle',
        leases,
      );
      for (const id of reply.lost) this.stopRun(id, 'lost');
      for (const id of reply.cancel_requested) this.stopRun(id, 'cancel');
    } catch (err) {
      this.o.logger.warn({ err, worker_id: this.o.id }, 'heartbeat failed');
    }
  }

  private wakeSlotWaiters(): void {
    for (const w of this.slotWaiters.splice(0)) w();
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
