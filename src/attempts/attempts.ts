/**
 * One attempt's life, for the HTTP routes and the in-process workers alike:
 *
 *   claim   — the claim and each attempt's gateway token together: the token key is loaded
 *             before the claim, so minting (a pure HMAC) cannot fail after the claim has
 *             committed and leave a task leased to a worker that never heard of it;
 *   report  — complete or fail: the fence is checked first (a stale or foreign report is
 *             refused before it can touch anything), then THIS attempt's LLM calls are settled
 *             (cut after LLM_INFLIGHT_GRACE_SECONDS, never waited on past a hard limit), then
 *             the fenced transition, pinned to the attempt the check saw;
 *   release — a task given back: the same order;
 *   logs    — the fenced append.
 *
 * In-process workers report through `completeHeld`/`failHeld`: their lease comes from this
 * process's own claim, so the fence read is skipped (the transition is fenced anyway, and the
 * settle is per attempt, so a stale lease can only cut its own dead calls), and completions
 * are batched into one statement.
 */
import { type Json, type Lease, type NewLog, type Queue, QueueError, type Task } from '../queue/index.ts';
import { CompletionBatcher } from './completion-batcher.ts';
import { type AttemptLogger, logClaimed, logCompleted, logSettled } from './lifecycle-log.ts';

export type { AttemptLogger } from './lifecycle-log.ts';

/** What an attempt needs of the LLM gateway. */
export interface AttemptGateway {
  /** Loads the signing key (once) and gives the minting function. */
  minter(): Promise<(taskId: string, attempt: number) => string>;
  /** True once the attempt's calls are recorded; false when the hard limit ran out first. */
  settled(taskId: string, attempt: number): Promise<boolean>;
}

/** One report of a batch: a completion (with its result) or a failure (with its error). */
export type Report = { task_id: string; attempt: number | null } & (
  | { outcome: 'complete'; result: Json }
  | { outcome: 'fail'; error: Json; retry: boolean }
);

/** A report's answer: the task as the report left it, or the queue's refusal. */
export type ReportVerdict = { task_id: string; task?: Task; error?: QueueError };

/** A claimed task with the gateway address and this attempt's token for its agent. */
export type ClaimedAttempt = Task & { llm_base_url?: string; llm_api_key?: string };

export class Attempts {
  private readonly completions: CompletionBatcher;

  constructor(
    private readonly queue: Queue,
    private readonly gateway: AttemptGateway | null,
    private readonly logger: AttemptLogger = { info() {}, warn() {} },
  ) {
    this.completions = new CompletionBatcher(queue);
  }

  /**
   * Claims up to `max` tasks; with a gateway address, each carries its attempt's token. A
   * `claimKey` makes the claim idempotent: its retry returns the same tasks (and tokens).
   */
  async claim(
    workerId: string,
    max: number,
    llmBaseUrl: string | null,
    claimKey: string | null = null,
  ): Promise<ClaimedAttempt[]> {
    const mint = this.gateway && llmBaseUrl ? await this.gateway.minter() : null;
    const tasks = await this.queue.claim(workerId, max, claimKey);
    logClaimed(this.logger, workerId, tasks);
    if (!mint || !llmBaseUrl) return tasks;
    return tasks.map((t) => ({ ...t, llm_base_url: llmBaseUrl, llm_api_key: mint(t.id, t.attempt) }));
  }

  // ── reports over HTTP: the attempt may be missing (the predecessor's clients send none) ──

  async complete(workerId: string, taskId: string, attempt: number | null, result: Json): Promise<Task> {
    const current = await this.queue.assertHeld(workerId, taskId, attempt);
    await this.settle(taskId, current);
    // Through the batcher: concurrent reports of many workers share one statement.
    const task = await this.completions.complete(workerId, { task_id: taskId, attempt: current }, result);
    if (!task) throw await this.queue.explainRefusal(taskId, workerId, current);
    logCompleted(this.logger, workerId, taskId, current);
    return task;
  }

  /**
   * Many reports of one worker in one call (the batched report protocol): one fence read for
   * all, their settles side by side, the completions into the shared batch. Each report gets
   * its own verdict; a refused one never stops the others.
   */
  async reportMany(workerId: string, reports: readonly Report[]): Promise<ReportVerdict[]> {
    const fence = await this.queue.fenceMany(workerId, reports);
    return Promise.all(
      reports.map(async (r): Promise<ReportVerdict> => {
        const verdict = fence.get(r.task_id)!;
        if (typeof verdict !== 'number') return { task_id: r.task_id, error: verdict };
        try {
          return { task_id: r.task_id, task: await this.reportHeldAt(workerId, r, verdict) };
        } catch (err) {
          if (err instanceof QueueError) return { task_id: r.task_id, error: err };
          throw err;
        }
      }),
    );
  }

  private async reportHeldAt(workerId: string, r: Report, attempt: number): Promise<Task> {
    await this.settle(r.task_id, attempt);
    if (r.outcome === 'complete') {
      const task = await this.completions.complete(workerId, { task_id: r.task_id, attempt }, r.result);
      if (!task) throw await this.queue.explainRefusal(r.task_id, workerId, attempt);
      logCompleted(this.logger, workerId, r.task_id, attempt);
      return task;
    }
    const task = await this.queue.fail(workerId, r.task_id, attempt, r.error, r.retry);
    logSettled(this.logger, workerId, task, r.error);
    return task;
  }

  async fail(
    workerId: string,
    taskId: string,
    attempt: number | null,
    error: Json,
    retry: boolean,
  ): Promise<Task> {
    const current = await this.queue.assertHeld(workerId, taskId, attempt);
    await this.settle(taskId, current);
    const task = await this.queue.fail(workerId, taskId, current, error, retry);
    logSettled(this.logger, workerId, task, error);
    return task;
  }

  async release(workerId: string, taskId: string, attempt: number | null): Promise<Task> {
    const current = await this.queue.assertHeld(workerId, taskId, attempt);
    await this.settle(taskId, current);
    const task = await this.queue.release(workerId, taskId, current);
    logSettled(this.logger, workerId, task);
    return task;
  }

  appendLogs(workerId: string, taskId: string, attempt: number | null, logs: readonly NewLog[]) {
    return this.queue.appendLogs(workerId, taskId, attempt, logs);
  }

  // ── reports of in-process workers: the lease is their own ───────────────────

  /** Resolves false when the fence refused it. */
  async completeHeld(workerId: string, lease: Lease, result: Json): Promise<boolean> {
    await this.settle(lease.task_id, lease.attempt);
    const done = (await this.completions.complete(workerId, lease, result)) !== null;
    if (done) logCompleted(this.logger, workerId, lease.task_id, lease.attempt);
    return done;
  }

  async failHeld(workerId: string, lease: Lease, error: Json, retry: boolean): Promise<void> {
    await this.settle(lease.task_id, lease.attempt);
    const task = await this.queue.fail(workerId, lease.task_id, lease.attempt, error, retry);
    logSettled(this.logger, workerId, task, error);
  }

  async releaseHeld(workerId: string, lease: Lease): Promise<void> {
    await this.settle(lease.task_id, lease.attempt);
    const task = await this.queue.release(workerId, lease.task_id, lease.attempt);
    logSettled(this.logger, workerId, task);
  }

  /** Writes pending batched completions (at shutdown). */
  drain(): Promise<void> {
    return this.completions.drain();
  }

  private async settle(taskId: string, attempt: number): Promise<void> {
    if (!this.gateway) return;
    if (!(await this.gateway.settled(taskId, attempt)))
      this.logger.warn(
        { task_id: taskId, attempt },
        'reporting before every LLM call of the attempt was recorded (recording is stuck; see llm_calls_unrecorded_total)',
      );
  }
}
