/**
 * The queue's public face: every task and worker operation the API and the workers use.
 * SQL stays in the files beside this one; this file adds the fencing diagnosis, wake-ups
 * and events (claims, fencing refusals, terminal tasks) that metrics and callbacks follow.
 */
import { EventEmitter } from 'node:events';
import { isUnknownWorker } from '../db/errors.ts';
import { TurnBatch } from '../db/turn-batch.ts';
import type { Db, Queryable } from '../db/types.ts';
import { type ActivityWindow, activitySeries } from './activity-series.ts';
import { QueueError } from './errors.ts';
import { experimentGroups } from './experiment-groups.ts';
import * as experiments from './experiments.ts';
import {
  appendFenced,
  appendSystem,
  type LogQuery,
  readLogs,
  readLogTail,
  transactionHorizon,
} from './logs.ts';
import { WakeNotifier } from './notifier.ts';
import { appendReward, getReward, latestRewards, listRewards, type NewReward } from './rewards.ts';
import { unroutablePending, waitingReason } from './routing.ts';
import { type Row, toTask } from './rows.ts';
import { countsByStatus, oldestPendingAgeSeconds, type StatsWindow } from './stats.ts';
import { type CreatedTask, getTask, insertTasks, listTasks, type TaskFilter, taskStats } from './tasks.ts';
import * as tx from './transitions.ts';
import type {
  HeartbeatResult,
  Json,
  Lease,
  LogLevel,
  NewLog,
  NewTask,
  Task,
  TaskLog,
  WorkerRegistration,
  WorkerStatus,
} from './types.ts';
import { TERMINAL_STATUSES } from './types.ts';
import * as workers from './workers.ts';

export interface QueueOptions {
  leaseSeconds: number;
  notifyDebounceMs: number;
}

export interface QueueEventMap {
  claimed: [count: number];
  fencing_rejected: [code: string];
  terminal: [taskIds: string[]];
}

export type CancelOutcome = { task: Task; outcome: 'cancelled' | 'cancel_requested' };

export function createQueue(db: Db, opts: QueueOptions) {
  const notifier = new WakeNotifier(db, opts.notifyDebounceMs);
  const events = new EventEmitter<QueueEventMap>();
  // The fence reads of concurrent report batches (many workers reporting at once) share a statement.
  const fences = new TurnBatch(
    async (ids: readonly string[]) => new Map((await tx.fenceRows(db, ids)).map((r) => [r.id, r])),
  );
  events.setMaxListeners(0);

  const terminal = (rows: readonly Row[]) => {
    const ids = rows
      .filter((r) => TERMINAL_STATUSES.includes(r.status as Task['status']))
      .map((r) => r.id as string);
    if (ids.length > 0) events.emit('terminal', ids);
  };

  /** A fenced statement matched nothing: find out why, as precisely as the row allows. */
  async function refuse(taskId: string, workerId: string, attempt: number | null): Promise<never> {
    const err =
      fenceRefusal(taskId, await getTask(db, taskId), workerId, attempt) ??
      // Held again by the time of this read (attempt omitted): the report raced a re-claim.
      new QueueError('STALE_ATTEMPT', `Attempt ${attempt} of task ${taskId} is stale`, { attempt });
    if (err.code !== 'TASK_NOT_FOUND') events.emit('fencing_rejected', err.code);
    throw err;
  }

  /**
   * An item is matched to a returned row by holder AND attempt, so a stale lease batched beside
   * the current holder's report of the same task is refused, not credited with its success.
   */
  async function completeBatch(items: readonly tx.Completion[]): Promise<Array<Task | null>> {
    const rows = await tx.complete(db, items);
    terminal(rows);
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    const out = items.map((c) => {
      const row = byId.get(c.task_id);
      if (!row || row.worker_id !== c.worker_id || (c.attempt !== null && row.attempt !== c.attempt))
        return null;
      // One transition, one winner: a duplicate report in the same batch is refused (as
      // TASK_ALREADY_TERMINAL once explained), as it would be one statement later.
      byId.delete(c.task_id);
      return toTask(row);
    });
    for (const t of out) if (!t) events.emit('fencing_rejected', 'TASK_NOT_HELD');
    return out;
  }

  return {
    db,
    /** The lease a claim grants and a heartbeat extends, in seconds. */
    leaseSeconds: opts.leaseSeconds,
    notifier,
    events,
    start: () => notifier.start(),
    stop: () => notifier.stop(),

    // ── submit and read ───────────────────────────────────────────────────────
    async submit(inputs: readonly NewTask[]): Promise<CreatedTask[]> {
      // One INSERT statement carries the whole batch, so it is atomic without BEGIN/COMMIT
      // (two round trips saved on every submit, which is most of the dispatch latency).
      const created = await insertTasks(db, inputs);
      if (created.some((c) => c.created)) notifier.wake();
      return created;
    },
    getTask: (id: string) => getTask(db, id),
    async mustGetTask(id: string): Promise<Task> {
      const task = await getTask(db, id);
      if (!task) throw new QueueError('TASK_NOT_FOUND', `Task ${id} not found`);
      return task;
    },
    listTasks: (f: TaskFilter) => listTasks(db, f),
    /** Counts now, averages over `window` (default the last hour). */
    taskStats: (withProblems = true, window: StatsWindow = '1h') => taskStats(db, withProblems, window),
    /** Claims and finishes minute by minute over the window (the counters, not the history). */
    activitySeries: (window: ActivityWindow) => activitySeries(db, window),
    /** Tasks by status, from the counters (health and metrics read only this). */
    statusCounts: () => countsByStatus(db),
    oldestPendingAgeSeconds: () => oldestPendingAgeSeconds(db),
    readLogs: (taskId: string, q: LogQuery): Promise<TaskLog[]> => readLogs(db, taskId, q),
    /** The live tail's read, in (txid, id) order (see readLogTail). */
    readLogTail: (
      taskId: string,
      after: { txid: bigint; id: bigint },
      limit: number,
      levels?: readonly LogLevel[],
    ) => readLogTail(db, taskId, after, limit, levels),
    /** See transactionHorizon: when the log tail's reads have caught up with a commit. */
    transactionHorizon: () => transactionHorizon(db),

    async cancel(id: string): Promise<CancelOutcome> {
      const pending = await tx.cancelPending(db, id);
      if (pending) {
        terminal([pending]);
        return { task: toTask(pending), outcome: 'cancelled' };
      }
      const running = await tx.requestCancel(db, id);
      if (running) {
        notifier.cancelRequested(id);
        return { task: toTask(running), outcome: 'cancel_requested' };
      }
      const task = await getTask(db, id);
      if (!task) throw new QueueError('TASK_NOT_FOUND', `Task ${id} not found`);
      throw new QueueError('TASK_ALREADY_TERMINAL', `Task ${id} is already ${task.status}`, {
        status: task.status,
      });
    },

    // ── experiments and rewards ───────────────────────────────────────────────
    async createExperiment(e: experiments.NewExperiment) {
      const created = await experiments.createExperiment(db, e);
      notifier.wake();
      return created;
    },
    getExperiment: (id: string) => experiments.getExperiment(db, id),
    async mustGetExperiment(id: string) {
      const found = await experiments.getExperiment(db, id);
      if (!found) throw new QueueError('EXPERIMENT_NOT_FOUND', `Experiment ${id} not found`);
      return found;
    },
    listExperiments: (page: { limit: number; offset: number }) => experiments.listExperiments(db, page),
    /** The experiment's groups with counts, success rate and mean reward; 404 when it does not exist. */
    async experimentGroups(id: string) {
      if (!(await experiments.getExperiment(db, id)))
        throw new QueueError('EXPERIMENT_NOT_FOUND', `Experiment ${id} not found`);
      return experimentGroups(db, id);
    },
    /**
     * Cancels what has not finished, through the same transitions as a task's cancel: pending
     * tasks end cancelled at once, running ones are asked to stop.
     */
    async cancelExperiment(id: string): Promise<{ cancelled: number; cancel_requested: number }> {
      // One transaction: the experiment is never marked cancelled with its tasks left as they were.
      const outcome = await db.transaction(async (q) => {
        if (!(await experiments.markCancelled(q, id))) return null;
        const pending = await tx.cancelPendingOfExperiment(q, id);
        const running = await tx.requestCancelOfExperiment(q, id);
        return { pending, running };
      });
      if (!outcome) throw new QueueError('EXPERIMENT_NOT_FOUND', `Experiment ${id} not found`);
      terminal(outcome.pending);
      for (const r of outcome.running) notifier.cancelRequested(r.id as string);
      return { cancelled: outcome.pending.length, cancel_requested: outcome.running.length };
    },
    /** A group's tasks in repetition order. */
    groupTasks: async (groupId: string): Promise<Task[]> =>
      (await experiments.groupTasks(db, groupId)).map(toTask),
    /** Appends a named reward; TASK_NOT_FOUND when there is no such task. */
    async appendReward(taskId: string, r: NewReward) {
      const reward = await appendReward(db, taskId, r);
      if (!reward) throw new QueueError('TASK_NOT_FOUND', `Task ${taskId} not found`);
      return reward;
    },
    listRewards: (taskId: string, name?: string) => listRewards(db, taskId, name),
    getReward: (id: number) => getReward(db, id),
    latestRewards: (taskIds: readonly string[]) => latestRewards(db, taskIds),

    /** Pending tasks no live worker can run (problem, backend, count). */
    unroutablePending: () => unroutablePending(db),
    /** Why this pending task has no taker; null when a live worker can run it. */
    waitingReason: (task: Pick<Task, 'problem_id' | 'backend_type'>) => waitingReason(db, task),

    appendSystemLog: (taskId: string, logs: readonly NewLog[]) => appendSystem(db, taskId, logs),

    // ── workers ───────────────────────────────────────────────────────────────
    registerWorker: (reg: WorkerRegistration) => workers.registerWorker(db, reg),
    getWorker: (id: string) => workers.getWorker(db, id),
    async mustGetWorker(id: string) {
      const w = await workers.getWorker(db, id);
      if (!w) throw new QueueError('WORKER_NOT_FOUND', `Worker ${id} is not registered`);
      return w;
    },
    listWorkers: (f?: { status?: WorkerStatus; backend_type?: string }) => workers.listWorkers(db, f),
    workerStats: (id: string, window: StatsWindow = '1h') => workers.workerStats(db, id, window),
    workerCountsByStatus: () => workers.workerCountsByStatus(db),
    /** See routingKinds: which workers would claim the same tasks. */
    routingKinds: (ids: readonly string[]) => workers.routingKinds(db, ids),
    recordClaimLiveness: (ids: readonly string[]) => workers.recordClaimLiveness(db, ids),

    /**
     * Liveness plus lease extension. `leases` null = extend every task the worker holds (the
     * seed's heartbeat carries no task list); otherwise only those, and the rest come back as lost.
     * `reason`: why the worker claims nothing (metadata.status_reason; see touchWorker).
     */
    async heartbeat(
      workerId: string,
      status: WorkerStatus | undefined,
      leases: Lease[] | null,
      reason?: string | null,
    ): Promise<HeartbeatResult> {
      // Leases first: a heartbeat the database refuses (a value it cannot store, a 422) then
      // records no liveness either, where touching first recorded it before the refusal. An
      // unregistered worker holds no task, so extending first changes nothing for it.
      const extended = await workers.extendLeases(db, workerId, leases, opts.leaseSeconds);
      if (!(await workers.touchWorker(db, workerId, status, reason)))
        throw new QueueError('WORKER_NOT_FOUND', `Worker ${workerId} is not registered`);
      const held = new Set(extended.map((e) => e.task_id));
      const missed = (leases ?? []).filter((l) => !held.has(l.task_id));
      const lost = missed.map((l) => l.task_id);
      // Only real refusals count: not a lease on a task this worker ended itself meanwhile.
      if (missed.length > 0) {
        const own = await workers.endedByHolder(db, workerId, missed);
        if (missed.some((l) => !own.has(l.task_id))) events.emit('fencing_rejected', 'TASK_NOT_HELD');
      }
      return {
        worker: (await workers.getWorker(db, workerId))!,
        extended: extended.map(({ task_id, attempt }) => ({ task_id, attempt })),
        lost,
        cancel_requested: extended.filter((e) => e.cancel_requested).map((e) => e.task_id),
      };
    },

    /**
     * The fence, checked before a report does anything else: resolves with the current attempt
     * when this worker holds the task (and `attempt`, when given, is that attempt), else
     * refuses with the precise reason (409 codes). The transition that follows is fenced on
     * the attempt returned, so a report cannot land on a newer attempt claimed meanwhile.
     */
    async assertHeld(workerId: string, taskId: string, attempt: number | null): Promise<number> {
      const task = await getTask(db, taskId);
      const held =
        task?.status === 'running' &&
        task.worker_id === workerId &&
        (attempt === null || attempt === task.attempt);
      if (held) return task.attempt;
      return refuse(taskId, workerId, attempt);
    },

    /**
     * assertHeld for many reports of one worker in one read: per task id, the current attempt
     * to fence its transition on, or the refusal (counted as fencing_rejected) it gets.
     */
    async fenceMany(
      workerId: string,
      leases: ReadonlyArray<{ task_id: string; attempt: number | null }>,
    ): Promise<Map<string, number | QueueError>> {
      const byId = await fences.get(leases.map((l) => l.task_id));
      const verdicts = new Map<string, number | QueueError>();
      for (const l of leases) {
        const row = byId.get(l.task_id) ?? null;
        const err = fenceRefusal(l.task_id, row, workerId, l.attempt);
        if (err && err.code !== 'TASK_NOT_FOUND') events.emit('fencing_rejected', err.code);
        verdicts.set(l.task_id, err ?? row!.attempt);
      }
      return verdicts;
    },

    /** Why a report on this task is refused now (no event: the caller already counted it). */
    async explainRefusal(taskId: string, workerId: string, attempt: number | null): Promise<QueueError> {
      return (
        fenceRefusal(taskId, await getTask(db, taskId), workerId, attempt) ??
        new QueueError('TASK_NOT_HELD', `Task ${taskId} changed hands while it was reported`)
      );
    },

    /**
     * Claims up to `max` tasks (bounded by the worker's free slots). Unknown worker →
     * WORKER_NOT_FOUND. With a `claimKey`, a retry of the same claim (its response was lost)
     * gets the tasks that claim handed out, instead of more.
     */
    async claim(workerId: string, max = 1, claimKey: string | null = null): Promise<Task[]> {
      const rows = await tx.claim(db, workerId, max, opts.leaseSeconds, claimKey).catch((err) => {
        if (isUnknownWorker(err))
          throw new QueueError('WORKER_NOT_FOUND', `Worker ${workerId} is not registered`);
        throw err;
      });
      const fresh = rows.filter((r) => r.fresh).length;
      if (fresh > 0) events.emit('claimed', fresh);
      return rows.map(toTask);
    },

    async appendLogs(workerId: string, taskId: string, attempt: number | null, logs: readonly NewLog[]) {
      if (logs.length === 0) return 0;
      const n = await appendFenced(db, taskId, workerId, attempt, logs);
      if (n === 0) await refuse(taskId, workerId, attempt);
      return n;
    },

    async complete(workerId: string, taskId: string, attempt: number | null, result: Json | undefined) {
      const rows = await tx.complete(db, [
        { task_id: taskId, worker_id: workerId, attempt, result: result ?? null },
      ]);
      if (!rows[0]) return refuse(taskId, workerId, attempt);
      terminal(rows);
      return toTask(rows[0]);
    },

    /** Many fenced completions in one statement; returns the ids that were accepted. */
    async completeMany(items: readonly tx.Completion[]): Promise<Set<string>> {
      const done = await completeBatch(items);
      return new Set(items.filter((_, i) => done[i]).map((c) => c.task_id));
    },

    /**
     * Many fenced completions in one statement. Per item, in order: the task it completed, or
     * null when the fence refused it.
     */
    completeBatch,

    /** retry=true puts the task back in the queue while attempts remain (and no cancel is pending). */
    async fail(workerId: string, taskId: string, attempt: number | null, error: Json, retry = false) {
      const retried = retry ? await tx.retry(db, taskId, workerId, attempt, error) : undefined;
      if (retried) {
        notifier.wake();
        return toTask(retried);
      }
      const row = await tx.fail(db, taskId, workerId, attempt, error);
      if (!row) return refuse(taskId, workerId, attempt);
      terminal([row]);
      return toTask(row);
    },

    /**
     * Gives a running task back (graceful shutdown); ends it cancelled if a cancel was
     * requested, and `timeout` if its deadline has passed.
     */
    async release(workerId: string, taskId: string, attempt: number | null) {
      const row = await tx.release(db, taskId, workerId, attempt);
      if (row?.status === 'timeout') {
        // Past its deadline: ended `timeout` instead of going back to the queue.
        terminal([row]);
        return toTask(row);
      }
      if (row) {
        notifier.wake();
        return toTask(row);
      }
      const cancelled = await tx.fail(db, taskId, workerId, attempt, {
        reason: 'cancelled',
        message: 'Cancelled',
      });
      if (!cancelled) return refuse(taskId, workerId, attempt);
      terminal([cancelled]);
      return toTask(cancelled);
    },

    /** For the reaper: a transaction-scoped view for its advisory-locked pass. */
    withTransaction: <T>(fn: (q: Queryable) => Promise<T>) => db.transaction(fn),
    emitTerminal: (ids: string[]) => ids.length > 0 && events.emit('terminal', ids),
  };
}

export type Queue = ReturnType<typeof createQueue>;

/** The fence, read off a task row: null when `workerId` holds its current attempt, else why not. */
function fenceRefusal(
  taskId: string,
  task: Pick<Task, 'status' | 'worker_id' | 'attempt'> | null,
  workerId: string,
  attempt: number | null,
): QueueError | null {
  if (!task) return new QueueError('TASK_NOT_FOUND', `Task ${taskId} not found`);
  if (TERMINAL_STATUSES.includes(task.status))
    return new QueueError('TASK_ALREADY_TERMINAL', `Task ${taskId} is already ${task.status}`, {
      status: task.status,
    });
  if (task.status !== 'running')
    return new QueueError('TASK_NOT_RUNNING', `Task ${taskId} is ${task.status}, not running`, {
      status: task.status,
    });
  if (task.worker_id !== workerId)
    return new QueueError('TASK_NOT_HELD', `Task ${taskId} is held by another worker`, {
      worker_id: workerId,
    });
  if (attempt !== null && attempt !== task.attempt)
    return new QueueError(
      'STALE_ATTEMPT',
      `Attempt ${attempt} of task ${taskId} is stale; current is ${task.attempt}`,
      { attempt, current_attempt: task.attempt },
    );
  return null;
}
