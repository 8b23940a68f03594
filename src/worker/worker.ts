/**
 * The worker loop, one implementation for in-process and remote workers:
 * register → claim up to free slots → run each task in its backend (task-run.ts) →
 * heartbeat (extends leases, brings cancel requests and lost leases) → complete / fail.
 * Graceful stop: stop claiming, let runs finish for the grace period, then give them back.
 * Everything here is timers and awaited I/O; the backends keep real work off the event loop.
 */
import { hostname } from 'node:os';
import type { Backend, StopReason } from '../backends/index.ts';
import type { JsonObject, Task, WorkerStatus } from '../queue/types.ts';
import type { PoolWorkerStatus } from './pool.ts';
import { type Logger, TaskRun } from './task-run.ts';
import { type ClaimedTask, errorCode, type WorkerTransport } from './transport.ts';

export type { Logger } from './task-run.ts';

export interface WorkerOptions {
  id: string;
  backend: Backend;
  transport: WorkerTransport;
  maxParallel: number;
  /** Problem ids or globs to advertise; default: the backend's own list, else every problem. */
  supportedProblems?: string[];
  metadata?: JsonObject;
  /** How long one claim may wait for work (wake-up or long-poll) before trying again. */
  pollIntervalMs: number;
  heartbeatIntervalMs: number;
  /** Attempt working directories go under DATA_DIR/runs/<task>/attempt-<n>. */
  dataDir: string;
  logger: Logger;
  /** Extra environment for a task's child processes (a later issue: gateway URL and token). */
  envFor?: (task: Task) => Record<string, string>;
  /** The clock deadlines are measured with (tests move it forward). */
  now?: () => number;
}

export class Worker {
  private state: PoolWorkerStatus['state'] = 'starting';
  private readonly runs = new Map<string, TaskRun>();
  private readonly stopClaiming = new AbortController();
  private slotWaiters: Array<() => void> = [];
  private starting: Promise<void> | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private unsubscribeCancel: (() => void) | undefined;
  private detachTaker: (() => void) | undefined;
  /** When the claim now in flight began (undefined: none in flight). */
  private claimSince: number | undefined;
  /** What the last heartbeat the queue accepted said. */
  private lastSent: { status: WorkerStatus; reason: string | null } | undefined;
  private stopping: Promise<void> | undefined;
  private graceDeadline = Number.POSITIVE_INFINITY;
  private graceTimer: NodeJS.Timeout | undefined;
  private prepareFailures = 0;
  private graceOver: Promise<void> = Promise.resolve();
  private endGrace: (() => void) | undefined;
  /** Why the backend cannot run at all (set at start): the worker then claims nothing. */
  private unavailable: string | null = null;
  /** The problems registered at start (and again if the queue forgets this worker). */
  private advertised: string[] = [];

  constructor(private readonly o: WorkerOptions) {}

  get id(): string {
    return this.o.id;
  }

  status(): PoolWorkerStatus {
    return {
      worker_id: this.o.id,
      backend_type: this.o.backend.type,
      state: this.state,
      running_tasks: [...this.runs.keys()],
      status_reason: this.unavailable,
    };
  }

  /**
   * Registers and starts claiming. Rejects if the registration fails; nothing is left
   * running then, and start() may be called again.
   */
  start(): Promise<void> {
    this.starting ??= (async () => {
      const listing = await this.supportedProblems();
      try {
        this.advertised = listing.supported;
        await this.register();
      } catch (err) {
        this.starting = undefined;
        throw err;
      }
      if (this.stopClaiming.signal.aborted) return;
      const unavailable = this.o.backend.unavailable?.() ?? listing.problem;
      if (unavailable) return this.standAside(unavailable);
      this.unsubscribeCancel = this.o.transport.onCancel?.((taskId) => this.stopRun(taskId, 'cancel'));
      // Reports may claim the next tasks in the same request (HTTP): they start here.
      this.detachTaker = this.o.transport.attachWorker?.(this.o.id, {
        accepting: () => !this.stopClaiming.signal.aborted && !this.o.backend.notReady?.(),
        take: (tasks) => {
          for (const task of tasks) this.startRun(task);
        },
      });
      this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.o.heartbeatIntervalMs);
      this.heartbeatTimer.unref();
      this.state = 'running';
      this.loopDone = this.claimLoop();
    })();
    return this.starting;
  }

  /**
   * A backend that cannot run (no command configured…) would fail every task it claimed, so the
   * worker claims nothing. It stays registered but `offline`, with the reason as
   * metadata.status_reason, so the worker list, /health and waiting tasks say why nothing runs.
   */
  private async standAside(reason: string): Promise<void> {
    this.unavailable = reason;
    this.state = 'unavailable';
    this.o.logger.error(
      { worker_id: this.o.id, backend_type: this.o.backend.type, reason },
      `worker ${this.o.id} claims nothing: ${reason}`,
    );
    await this.o.transport.heartbeat(this.o.id, 'offline', [], reason).catch((err) => {
      this.o.logger.warn({ err, worker_id: this.o.id }, 'could not record why the worker claims nothing');
    });
  }

  /**
   * Stops claiming, waits up to graceMs for running tasks, then stops the rest and gives them
   * back. Idempotent; a second call with a shorter grace (a second Ctrl-C) cuts the wait short.
   */
  stop(opts: number | { graceMs?: number } = {}): Promise<void> {
    const graceMs = typeof opts === 'number' ? opts : (opts.graceMs ?? 0);
    if (!this.stopping) {
      this.graceOver = new Promise((r) => (this.endGrace = r));
      this.stopping = this.drain();
    }
    this.shortenGrace(graceMs);
    return this.stopping;
  }

  private async drain(): Promise<void> {
    this.stopClaiming.abort();
    this.wakeSlotWaiters();
    await this.starting?.catch(() => {});
    if (this.state === 'starting' || this.state === 'unavailable') {
      // Stopped before it ever claimed (perhaps mid-registration): just say it is gone.
      await this.o.transport.heartbeat(this.o.id, 'offline', [], this.unavailable).catch(() => {});
      this.state = 'stopped';
      return;
    }
    this.state = 'draining';
    await this.heartbeat();
    await this.loopDone;
    await Promise.race([Promise.all([...this.runs.values()].map((r) => r.done)), this.graceOver]);
    clearTimeout(this.graceTimer);
    for (const id of this.runs.keys()) this.stopRun(id, 'shutdown');
    await Promise.all([...this.runs.values()].map((r) => r.done));
    clearInterval(this.heartbeatTimer);
    this.unsubscribeCancel?.();
    this.detachTaker?.();
    await this.beating;
    await this.o.transport.heartbeat(this.o.id, 'offline', [], null).catch(() => {});
    await this.o.backend.close?.().catch((err) => this.o.logger.warn({ err }, 'backend close failed'));
    this.state = 'stopped';
  }

  private shortenGrace(graceMs: number): void {
    const at = Date.now() + Math.max(0, graceMs);
    if (at >= this.graceDeadline) return;
    this.graceDeadline = at;
    clearTimeout(this.graceTimer);
    this.graceTimer = setTimeout(() => this.endGrace?.(), Math.max(0, graceMs));
  }

  /** What to advertise: the configured list, else the backend's own (see listBackendProblems). */
  private async supportedProblems(): Promise<{ supported: string[]; problem: string | null }> {
    if (this.o.supportedProblems) return { supported: this.o.supportedProblems, problem: null };
    return listBackendProblems(this.o.backend);
  }

  private async register(): Promise<void> {
    const supported = this.advertised;
    await this.o.transport.register({
      id: this.o.id,
      backend_type: this.o.backend.type,
      max_parallel_tasks: this.o.maxParallel,
      supported_problems: supported,
      metadata: { host: hostname(), pid: process.pid, ...this.o.metadata },
    });
    // A registration leaves the worker idle with no reason: what an idle heartbeat would say.
    this.lastSent = { status: 'idle', reason: null };
  }

  private async claimLoop(): Promise<void> {
    let failures = 0;
    const signal = this.stopClaiming.signal;
    while (!signal.aborted) {
      const free = this.o.maxParallel - this.runs.size;
      if (free <= 0) {
        await new Promise<void>((r) => this.slotWaiters.push(r));
        // Runs whose completions were written in one batch all free their slots in the same
        // turn; waiting one macrotask lets them, so the next claim takes them in one statement
        // instead of one claim per freed slot.
        await new Promise((r) => setImmediate(r));
        continue;
      }
      if (this.o.backend.notReady?.()) {
        await this.prepareBackend(signal);
        continue;
      }
      try {
        this.claimSince = Date.now();
        const tasks = await this.o.transport
          .claim(this.o.id, free, this.o.pollIntervalMs, signal)
          .finally(() => {
            this.claimSince = undefined;
          });
        failures = 0;
        for (const task of tasks) this.startRun(task);
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        await this.recover(err, 'claim');
        await abortableSleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)), signal);
      }
    }
  }

  /**
   * The backend is not ready (a dirty cluster…): claim nothing, let the runs it still has end
   * (a reset would pull the cluster from under them), then prepare it, saying why in heartbeats.
   */
  private async prepareBackend(signal: AbortSignal): Promise<void> {
    const backend = this.o.backend;
    void this.heartbeat();
    while (this.runs.size > 0 && !signal.aborted) await new Promise<void>((r) => this.slotWaiters.push(r));
    if (signal.aborted) return;
    const log = (level: string, message: string) => {
      const fields = { worker_id: this.o.id, backend_type: backend.type };
      if (level === 'error' || level === 'critical') this.o.logger.error(fields, message);
      else if (level === 'warning') this.o.logger.warn(fields, message);
      else this.o.logger.info(fields, message);
    };
    try {
      await backend.prepare?.(signal, log);
      this.prepareFailures = 0;
    } catch (err) {
      if (signal.aborted) return;
      this.prepareFailures++;
      this.o.logger.warn(
        { err, worker_id: this.o.id },
        `preparing the ${backend.type} backend failed; retrying`,
      );
      await abortableSleep(Math.min(60_000, 1000 * 2 ** Math.min(this.prepareFailures, 6)), signal);
    }
    // The reason is gone (or changed): say so now rather than at the next interval.
    void this.heartbeat();
  }

  /** A forgotten registration (database reset, row removed) is redone; the rest is logged. */
  private async recover(err: unknown, what: string): Promise<void> {
    if (errorCode(err) === 'WORKER_NOT_FOUND') {
      this.o.logger.warn({ worker_id: this.o.id }, `${what}: worker unknown to the queue; registering again`);
      await this.register().catch((e) =>
        this.o.logger.warn({ err: e, worker_id: this.o.id }, 'register failed'),
      );
      return;
    }
    this.o.logger.warn({ err, worker_id: this.o.id }, `${what} failed; retrying`);
  }

  private startRun(task: ClaimedTask): void {
    const run = new TaskRun(task, {
      workerId: this.o.id,
      backend: this.o.backend,
      transport: this.o.transport,
      dataDir: this.o.dataDir,
      logger: this.o.logger,
      env: this.o.envFor?.(task) ?? {},
      llm:
        task.llm_base_url && task.llm_api_key
          ? { baseUrl: task.llm_base_url, apiKey: task.llm_api_key }
          : null,
      now: this.o.now ?? Date.now,
    });
    this.runs.set(task.id, run);
    // Claimed while shutting down (the claim was already in flight): give it straight back.
    if (this.stopClaiming.signal.aborted) run.stop('shutdown');
    run.done = run.execute().finally(() => {
      this.runs.delete(task.id);
      this.wakeSlotWaiters();
    });
  }

  private stopRun(taskId: string, why: StopReason): void {
    this.runs.get(taskId)?.stop(why);
  }

  /** One heartbeat at a time; a failed one is only logged (the next may get through). */
  private heartbeat(): Promise<void> {
    this.beating ??= this.beatOnce().finally(() => {
      this.beating = undefined;
    });
    return this.beating;
  }

  private async beatOnce(): Promise<void> {
    const leases = [...this.runs.values()].filter((r) => r.holdsLease).map((r) => r.lease);
    const status: WorkerStatus =
      this.state === 'draining' ? 'draining' : this.runs.size > 0 ? 'busy' : 'idle';
    try {
      const reason = this.o.backend.notReady?.() ?? null;
      if (this.idleBeatIsRedundant(status, reason)) return;
      const reply = await this.o.transport.heartbeat(this.o.id, status, leases, reason);
      this.lastSent = { status, reason };
      for (const id of reply.lost) this.stopRun(id, 'lost');
      for (const id of reply.cancel_requested) this.stopRun(id, 'cancel');
    } catch (err) {
      await this.recover(err, 'heartbeat');
    }
  }

  /**
   * An idle worker waiting in a claim needs no heartbeat: it holds no lease to extend, the
   * queue already shows it idle, and each claim records its liveness (claim_tasks) — the one in
   * flight began less than two heartbeat intervals ago. A fleet of idle long-polling workers then
   * costs the API one request per claim wait each, not one more per heartbeat interval.
   */
  private idleBeatIsRedundant(status: WorkerStatus, reason: string | null): boolean {
    return (
      status === 'idle' &&
      reason === null &&
      this.lastSent?.status === 'idle' &&
      this.lastSent.reason === null &&
      this.claimSince !== undefined &&
      Date.now() - this.claimSince < 2 * this.o.heartbeatIntervalMs
    );
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

/**
 * A backend's problem list. One that cannot list its problems (AIOpsLab not importable…)
 * cannot run them either: `problem` says why, and its worker claims nothing (in-process) or
 * refuses to start (remote) instead of taking the server down or draining the queue.
 */
export async function listBackendProblems(
  backend: Backend,
): Promise<{ supported: string[]; problem: string | null }> {
  try {
    return { supported: (await backend.problems?.()) ?? [], problem: null };
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    return { supported: [], problem: `cannot list its problems: ${message}` };
  }
}
