/**
 * The claim long-poll, one dispatcher per API replica. A claim first tries at once; when the
 * queue has nothing for the worker, the request parks. A parked claim costs nothing on its
 * own: no connection held, no timer of its own polling the database. One shared pass — on a
 * wake-up (a submit in this process, a NOTIFY from another) or every poll interval while
 * anyone waits — claims for the parked workers in arrival order, a few at a time, and stops
 * trying a kind of worker (same backend and problem patterns) at its first empty claim. So
 * 1,000 idle workers of one kind cost one claim statement per poll interval, and a submitted
 * task costs one claim, where each parked request used to run its own claim on every wake-up.
 *
 * A renewal (the next long-poll of a worker whose last one found nothing) parks without a
 * claim while nothing can have changed for it: no wake-up since its last empty claim, and that
 * claim (or a pass that tried for it) less than a poll interval old — the backstop pass would
 * find anything that arrived without a wake-up no later than before. What the skipped claim
 * recorded, the worker's liveness, is written for all such renewals in one statement a
 * moment later (and a worker found unregistered then gets WORKER_NOT_FOUND, as a claim would
 * have told it). An idle fleet then costs the database one statement per poll interval plus
 * one per liveness window, not one claim per renewal.
 */
import type { Attempts, ClaimedAttempt } from '../attempts/index.ts';
import { QueueError } from '../queue/errors.ts';
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
  /** When it parked (Date.now()). */
  at: number;
  signal: AbortSignal;
  settled: boolean;
  settle(tasks: ClaimedAttempt[] | Error): void;
}

/** Claims run side by side in one pass (a burst of tasks reaches many parked workers at once). */
const LANES = 4;
/** A worker's kind is re-read after this long (it changes only when the worker re-registers). */
const KIND_TTL_MS = 30_000;
/** Renewals parked without a claim have their liveness written together, this often. */
const LIVENESS_WINDOW_MS = 250;

/** A claim that found nothing: the wake-ups seen before it ran, and when it ran. */
interface Emptiness {
  wakes: number;
  at: number;
}

export class LongPollDispatcher {
  private readonly parked = new Set<Parked>();
  private passing = false;
  private again = false;
  /** Counts wake-ups, so a claim can tell that one landed while its own statement ran. */
  private wakes = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly kinds = new Map<string, { kind: string; at: number }>();
  private readonly offWake: () => void;
  /** Workers whose last claim found nothing (see the header). */
  private readonly foundEmpty = new Map<string, Emptiness>();
  /** The last pass that ran to its end. */
  private lastPass: Emptiness | undefined;
  /** Renewals parked without a claim, their liveness not yet written. */
  private untouched: Parked[] = [];
  private livenessTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly attempts: Attempts,
    private readonly queue: Pick<Queue, 'notifier' | 'routingKinds' | 'recordClaimLiveness'>,
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
    const at = Date.now();
    const renewal = req.waitMs > 0 && this.stillEmpty(req.workerId);
    const tasks = renewal ? [] : await this.claimFor(req, signal);
    if (!renewal) this.noteClaim(req.workerId, tasks, { wakes: seen, at });
    if (tasks.length > 0 || req.waitMs <= 0 || signal.aborted) return tasks;
    return new Promise<ClaimedAttempt[]>((resolve, reject) => {
      const p: Parked = {
        req,
        at: Date.now(),
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
      const leave = () => {
        // A pass that tried for it since it parked found nothing either.
        if (!p.settled && this.lastPass && this.lastPass.at >= p.at)
          this.noteClaim(req.workerId, [], this.lastPass);
        p.settle([]);
      };
      // Up to the wait, not exactly it: a fleet started together would otherwise renew its
      // long-polls in lockstep, every one at the same instant.
      const deadline = setTimeout(leave, req.waitMs * (0.75 + 0.25 * Math.random()));
      signal.addEventListener('abort', leave, { once: true });
      this.parked.add(p);
      if (renewal) this.recordLivenessSoon(p);
      this.startPolling();
      // A wake-up during our own claim was not seen by a pass that included us.
      if (this.wakes !== seen) this.kick();
    });
  }

  /** The worker (re-)registered: its kind may have changed, and with it what it can claim. */
  forget(workerId: string): void {
    this.foundEmpty.delete(workerId);
    this.kinds.delete(workerId);
  }

  /** Answers every parked claim with [] (the server is closing). */
  close(): void {
    this.offWake();
    this.stopPolling();
    clearTimeout(this.livenessTimer);
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
    const started: Emptiness = { wakes: this.wakes, at: Date.now() };
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
        else {
          this.foundEmpty.delete(p.req.workerId);
          if (p.settled) await this.giveBack(p.req.workerId, tasks);
          else p.settle(tasks);
        }
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
    this.lastPass = started;
  }

  /** Whether nothing can have arrived for this worker since its last claim found nothing. */
  private stillEmpty(workerId: string): boolean {
    const e = this.foundEmpty.get(workerId);
    if (!e) return false;
    if (e.wakes === this.wakes && Date.now() - e.at < this.pollMs) return true;
    this.foundEmpty.delete(workerId);
    return false;
  }

  private noteClaim(workerId: string, tasks: readonly ClaimedAttempt[], when: Emptiness): void {
    if (tasks.length > 0) {
      this.foundEmpty.delete(workerId);
      return;
    }
    this.foundEmpty.set(workerId, when);
    // Bounded by the fleet that polls: expired entries go when the map outgrows it.
    if (this.foundEmpty.size > 4 * this.parked.size + 100) {
      const now = Date.now();
      for (const [id, e] of this.foundEmpty) if (now - e.at >= this.pollMs) this.foundEmpty.delete(id);
    }
  }

  private recordLivenessSoon(p: Parked): void {
    this.untouched.push(p);
    this.livenessTimer ??= setTimeout(() => void this.recordLiveness(), LIVENESS_WINDOW_MS);
  }

  /** What the renewals' skipped claims would have recorded; unknown workers are told so. */
  private async recordLiveness(): Promise<void> {
    this.livenessTimer = undefined;
    const batch = this.untouched;
    this.untouched = [];
    try {
      const known = await this.queue.recordClaimLiveness([...new Set(batch.map((p) => p.req.workerId))]);
      for (const p of batch) {
        if (known.has(p.req.workerId)) continue;
        this.foundEmpty.delete(p.req.workerId);
        p.settle(new QueueError('WORKER_NOT_FOUND', `Worker ${p.req.workerId} is not registered`));
      }
    } catch (err) {
      for (const p of batch) {
        this.foundEmpty.delete(p.req.workerId);
        p.settle(err as Error);
      }
    }
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
