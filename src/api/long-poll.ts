/**
 * The claim long-poll, one dispatcher per API replica. A claim first tries at once; when the
 * queue has nothing for the worker, the request parks. A parked claim costs nothing on its
 * own: no connection held, no timer of its own polling the database. One shared pass — on a
 * wake-up (a submit in this process, a NOTIFY from another) or every poll interval while
 * anyone waits — claims for the parked workers in arrival order, a few at a time, and stops
 * trying a kind of worker (same backend and problem patterns) at its first empty claim. So
 * 1,000 idle workers of one kind cost one claim statement per poll interval, and a submitted
 * task costs one claim, where each parked request used to run its own claim on every wake-up.
 */
import type { Attempts, ClaimedAttempt } from '../attempts/index.ts';
import type { Queue } from '../queue/queue.ts';

export interface ClaimRequest {
  workerId: string;
  /** Tasks wanted (the worker's free slots); the queue also bounds it by them. */
  max: number;
  llmBaseUrl: string;
  claimKey: string | null;
  /** How long to park when nothing is there (0: answer at once). */
  waitMs: number;
}

interface Parked {
  req: ClaimRequest;
  signal: AbortSignal;
  settled: boolean;
  settle(tasks: ClaimedAttempt[] | Error): void;
}

/** Claims run side by side in one pass (a burst of tasks reaches many parked workers at once). */
const LANES = 4;
/** A worker's kind is re-read after this long (it changes only when the worker re-registers). */
const KIND_TTL_MS = 30_000;

export class LongPollDispatcher {
  private readonly parked = new Set<Parked>();
  private passing = false;
  private again = false;
  /** Counts wake-ups, so a claim can tell that one landed while its own statement ran. */
  private wakes = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly kinds = new Map<string, { kind: string; at: number }>();
  private readonly offWake: () => void;

  constructor(
    private readonly attempts: Attempts,
    private readonly queue: Pick<Queue, 'notifier' | 'routingKinds'>,
    private readonly pollMs: number,
  ) {
    this.offWake = queue.notifier.onWake(() => {
      this.wakes++;
      this.kick();
    });
  }

  /** Parked claims now (for tests and metrics). */
  get waiting(): number {
    return this.parked.size;
  }

  /** Resolves with the tasks claimed, or [] when the wait ran out or the caller left. */
  async claim(req: ClaimRequest, signal: AbortSignal): Promise<ClaimedAttempt[]> {
    const seen = this.wakes;
    const tasks = await this.claimFor(req, signal);
    if (tasks.length > 0 || req.waitMs <= 0 || signal.aborted) return tasks;
    return new Promise<ClaimedAttempt[]>((resolve, reject) => {
      const p: Parked = {
        req,
        signal,
        settled: false,
        settle: (r) => {
          if (p.settled) return;
          p.settled = true;
          this.parked.delete(p);
          clearTimeout(deadline);
          signal.removeEventListener('abort', leave);
          if (this.parked.size === 0) this.stopPolling();
          if (r instanceof Error) reject(r);
          else resolve(r);
        },
      };
      const leave = () => p.settle([]);
      // Up to the wait, not exactly it: a fleet started together would otherwise renew its
      // long-polls in lockstep, every one at the same instant.
      const deadline = setTimeout(leave, req.waitMs * (0.75 + 0.25 * Math.random()));
      signal.addEventListener('abort', leave, { once: true });
      this.parked.add(p);
      this.startPolling();
      // A wake-up during our own claim was not seen by a pass that included us.
      if (this.wakes !== seen) this.kick();
    });
  }

  /** Answers every parked claim with [] (the server is closing). */
  close(): void {
    this.offWake();
    this.stopPolling();
    for (const p of [...this.parked]) p.settle([]);
  }

  private startPolling(): void {
    if (this.pollTimer) return;
    // The backstop for a wake-up lost between replicas; one timer for every parked claim.
    this.pollTimer = setInterval(() => this.kick(), this.pollMs);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private kick(): void {
    if (this.parked.size === 0) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    this.passing = true;
    void this.pass().finally(() => {
      this.passing = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async pass(): Promise<void> {
    const order = [...this.parked];
    const kinds = await this.kindsOf(order.map((p) => p.req.workerId)).catch(() => new Map<string, string>());
    const empty = new Set<string>();
    let next = 0;
    const lane = async () => {
      while (next < order.length) {
        const p = order[next++]!;
        const kind = kinds.get(p.req.workerId) ?? p.req.workerId;
        if (p.settled || empty.has(kind)) continue;
        let tasks: ClaimedAttempt[];
        try {
          tasks = await this.claimFor(p.req, p.signal);
        } catch (err) {
          p.settle(err as Error);
          continue;
        }
        if (tasks.length === 0) empty.add(kind);
        else if (p.settled) await this.giveBack(p.req.workerId, tasks);
        else p.settle(tasks);
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
  }

  /** One claim; tasks claimed for a caller that has gone meanwhile are given straight back. */
  private async claimFor(req: ClaimRequest, signal: AbortSignal): Promise<ClaimedAttempt[]> {
    if (signal.aborted) return [];
    const tasks = await this.attempts.claim(req.workerId, req.max, req.llmBaseUrl, req.claimKey);
    if (tasks.length > 0 && signal.aborted) {
      // Nobody will run them: give them back rather than leave them leased (and charged an
      // attempt) until the reaper frees them.
      await this.giveBack(req.workerId, tasks);
      return [];
    }
    return tasks;
  }

  private async giveBack(workerId: string, tasks: ClaimedAttempt[]): Promise<void> {
    await Promise.all(
      tasks.map((t) =>
        this.attempts.releaseHeld(workerId, { task_id: t.id, attempt: t.attempt }).catch(() => {}),
      ),
    );
  }

  /** Kinds of the parked workers: cached, the unknown or stale ones read in one statement. */
  private async kindsOf(ids: string[]): Promise<Map<string, string>> {
    const now = Date.now();
    const stale = ids.filter((id) => {
      const k = this.kinds.get(id);
      return !k || now - k.at > KIND_TTL_MS;
    });
    if (stale.length > 0) {
      const read = await this.queue.routingKinds(stale);
      for (const [id, kind] of read) this.kinds.set(id, { kind, at: now });
      // Forget workers no longer parked, so the cache stays the size of the fleet that polls.
      if (this.kinds.size > 4 * this.parked.size + 100) {
        const live = new Set(ids);
        for (const id of this.kinds.keys()) if (!live.has(id)) this.kinds.delete(id);
      }
    }
    return new Map(ids.map((id) => [id, this.kinds.get(id)?.kind ?? id]));
  }
}
