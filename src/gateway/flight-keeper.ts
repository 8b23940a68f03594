/**
 * What keeps llm_calls_in_flight true across API replicas and crashes (in-flight.ts):
 *
 *   - every second while this process relays calls, it asks which of them another replica's
 *     report wants cut, and cuts them (they are then recorded as `attempt_ended`);
 *   - every `touchMs` it renews its rows, so nobody takes them for orphans;
 *   - every `touchMs` it looks for orphans — rows nobody renewed for `staleSeconds`, left by
 *     a process that died — and records each as `interrupted`, from the request and prompt
 *     stored before it was forwarded. Only once this process has reached the database for
 *     `staleSeconds` without a break: after an outage, live owners get the same time to
 *     renew their rows as they had to let them go stale.
 *
 * `settleElsewhere` is the report's side: it waits for the attempt's calls on other
 * replicas, asks for their cut after the grace, and gives up at the hard limit.
 */
import { isDatabaseUnavailable } from '../db/errors.ts';
import type { InFlightStore, OrphanedCall } from './in-flight.ts';
import type { RecordQueue } from './record-queue.ts';
import type { CallRecord, Recorded } from './recorder.ts';
import { summarize } from './summary.ts';

export interface KeeperLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface KeeperTiming {
  /** How often cut requests are polled while calls are in flight. */
  cutPollMs: number;
  /** How often rows are renewed and orphans looked for. */
  touchMs: number;
  staleSeconds: number;
}

/** Rows are renewed six times within the stale period (and at least every 10 s). */
export function keeperTiming(staleSeconds: number): KeeperTiming {
  return { cutPollMs: 1000, touchMs: Math.min(10_000, (staleSeconds * 1000) / 6), staleSeconds };
}

const ORPHANS_PER_PASS = 100;
const SETTLE_POLL_MS = 200;

export const INTERRUPTED_ERROR =
  'The API process relaying this call stopped (or lost the database) before the call was recorded; no response was kept.';

export class FlightKeeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastTouch = 0;
  /** Since when this process has reached the database without a failure (null: not now). */
  private reachableSince: number | null = null;

  constructor(
    private readonly store: InFlightStore,
    private readonly records: RecordQueue,
    private readonly logger: KeeperLogger,
    private readonly timing: KeeperTiming,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.timing.cutPollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One round now (skipped while one runs). Never throws. */
  tick(): Promise<void> {
    this.running ??= this.round()
      .catch((err) => {
        if (isDatabaseUnavailable(err)) this.reachableSince = null;
        else this.logger.warn({ err }, 'in-flight call keeping failed');
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async round(): Promise<void> {
    if (this.records.liveIds().length > 0) this.records.cut(await this.store.cutsFor());
    const now = Date.now();
    if (now - this.lastTouch < this.timing.touchMs) return;
    this.lastTouch = now;
    await this.store.touch(this.records.liveIds());
    // The look for orphans is also this round's proof that the database answers.
    const orphans = await this.store.orphans(this.timing.staleSeconds, ORPHANS_PER_PASS);
    this.reachableSince ??= now;
    if (now - this.reachableSince >= this.timing.staleSeconds * 1000) await this.recover(orphans);
  }

  /** Records each orphan as interrupted; resolves with how many were recorded here. */
  async recover(orphans: readonly OrphanedCall[]): Promise<number> {
    const recorded = await Promise.all(orphans.map((o) => this.recordInterrupted(o)));
    const n = recorded.filter(Boolean).length;
    if (n > 0) this.logger.info({ interrupted_calls: n }, 'recorded LLM calls whose API process stopped');
    return n;
  }

  private recordInterrupted(o: OrphanedCall): Promise<boolean> {
    // A flight of its own, so a report of the attempt waits for this record too.
    const flight = this.records.begin(o.taskId, o.attempt, o.id);
    return new Promise<boolean>((resolve) =>
      this.records.add(interruptedRecord(o), flight, (r: Recorded | null) => resolve(r !== null)),
    );
  }
}

/** The record of a call whose process died: what was asked, and no answer. */
export function interruptedRecord(o: OrphanedCall): CallRecord {
  return {
    conversationId: o.conversationId,
    taskId: o.taskId,
    attempt: o.attempt,
    upstream: o.upstream,
    modelRequested: o.modelRequested,
    stream: o.stream,
    request: o.request,
    injected: o.injected,
    prompt: o.prompt,
    response: null,
    summary: summarize(null),
    status: null,
    endReason: 'interrupted',
    error: INTERRUPTED_ERROR,
    cost: null,
    // The call ran at least until its owner last renewed it.
    latencyMs: Math.max(0, o.seenAt.getTime() - o.startedAt.getTime()),
    ttftMs: null,
    startedAt: o.startedAt,
    completedAt: o.seenAt,
    inFlightId: o.id,
    requireInFlight: true,
  };
}

/**
 * Waits until no other process relays a call of this attempt: after `graceMs` it asks their
 * owners to cut them, and after `limitMs` more it gives up (false). A database it cannot
 * reach is not waited on either (false).
 */
export async function settleElsewhere(
  store: InFlightStore,
  taskId: string,
  attempt: number,
  graceMs: number,
  limitMs: number,
): Promise<boolean> {
  const started = Date.now();
  const clear = async () => (await store.othersOf(taskId, attempt)) === 0;
  try {
    if (await clear()) return true;
    let cutAsked = false;
    while (Date.now() - started < graceMs + limitMs) {
      if (!cutAsked && Date.now() - started >= graceMs) {
        await store.requestCut(taskId, attempt);
        cutAsked = true;
      }
      await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
      if (await clear()) return true;
    }
    return false;
  } catch (err) {
    if (isDatabaseUnavailable(err)) return false;
    throw err;
  }
}
