/**
 * Wake-ups for idle claimers. NOTIFY is only a hint (polling is the backstop), and it is
 * expensive: PostgreSQL serialises NOTIFY-ing commits on a global lock and each one gets its
 * own WAL flush (on a 2-core machine single-row inserts fell from 12.5k/s to 5.8k/s when each
 * carried one). So submits never NOTIFY inside their transaction: after commit they call
 * wake(), which wakes this process's claimers at once and sends at most one NOTIFY per
 * debounce window (leading edge, plus one trailing edge if more work arrived meanwhile) for
 * the claimers of other processes.
 */
import { EventEmitter } from 'node:events';
import type { Db } from '../db/types.ts';

export const WAKE_CHANNEL = 'task_executor_wake';
export const CANCEL_CHANNEL = 'task_executor_cancel';
/** Attempts ending on one replica (`task/attempt`, space-separated), for the others' gateways. */
export const ATTEMPT_END_CHANNEL = 'task_executor_attempt_end';
/**
 * Attempts ending within this window go out in one NOTIFY (after a leading one at once): a
 * drain of thousands of reports a second costs tens of NOTIFYs, not thousands.
 */
const ATTEMPT_END_WINDOW_MS = 20;
/** A NOTIFY payload must stay under 8000 bytes. */
const PAYLOAD_LIMIT = 7900;

export class WakeNotifier {
  private readonly local = new EventEmitter();
  private windowOpen = false;
  private trailing = false;
  private unlisten: Array<() => Promise<void>> = [];
  private ending: string[] = [];
  private endingWindow: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly debounceMs: number,
  ) {
    this.local.setMaxListeners(0);
  }

  /** Subscribes to other processes' wake-ups and cancel requests (no-op on single-process PGlite). */
  async start(): Promise<void> {
    if (this.db.kind !== 'postgres') return;
    this.unlisten.push(await this.db.listen(WAKE_CHANNEL, () => this.local.emit('wake')));
    this.unlisten.push(await this.db.listen(CANCEL_CHANNEL, (id) => this.local.emit('cancel', id)));
    this.unlisten.push(
      await this.db.listen(ATTEMPT_END_CHANNEL, (keys) => this.local.emit('attempts_ended', keys.split(' '))),
    );
  }

  async stop(): Promise<void> {
    clearTimeout(this.endingWindow);
    this.endingWindow = undefined;
    this.sendEnding();
    for (const u of this.unlisten.splice(0)) await u().catch(() => {});
  }

  onWake(fn: () => void): () => void {
    this.local.on('wake', fn);
    return () => this.local.off('wake', fn);
  }

  onCancel(fn: (taskId: string) => void): () => void {
    this.local.on('cancel', fn);
    return () => this.local.off('cancel', fn);
  }

  /** Attempts other processes announced as ending (`task/attempt` keys). */
  onAttemptsEnded(fn: (keys: string[]) => void): () => void {
    this.local.on('attempts_ended', fn);
    return () => this.local.off('attempts_ended', fn);
  }

  /**
   * These attempts (`task/attempt`) are ending here: other processes' gateways stop trusting
   * their tokens (gateway/attempt-cache.ts). Batched per window; no-op on single-process PGlite.
   */
  attemptsEnding(keys: readonly string[]): void {
    if (this.db.kind !== 'postgres' || keys.length === 0) return;
    this.ending.push(...keys);
    if (this.endingWindow) return;
    this.sendEnding();
    const close = () => {
      if (this.ending.length === 0) {
        this.endingWindow = undefined;
        return;
      }
      this.sendEnding();
      this.endingWindow = setTimeout(close, ATTEMPT_END_WINDOW_MS).unref();
    };
    this.endingWindow = setTimeout(close, ATTEMPT_END_WINDOW_MS).unref();
  }

  private sendEnding(): void {
    const keys = this.ending.splice(0);
    for (let i = 0; i < keys.length; ) {
      let payload = keys[i++]!;
      while (i < keys.length && payload.length + 1 + keys[i]!.length <= PAYLOAD_LIMIT)
        payload += ` ${keys[i++]}`;
      this.db.query('SELECT pg_notify($1, $2)', [ATTEMPT_END_CHANNEL, payload]).catch(() => {});
    }
  }

  /** New claimable work was committed. */
  wake(): void {
    this.local.emit('wake');
    if (this.db.kind !== 'postgres') return;
    if (this.windowOpen) {
      this.trailing = true;
      return;
    }
    this.sendNotify();
  }

  /** A running task's cancel was requested: reaches the in-process worker holding it, wherever it runs. */
  cancelRequested(taskId: string): void {
    this.local.emit('cancel', taskId);
    if (this.db.kind === 'postgres') {
      this.db.query('SELECT pg_notify($1, $2)', [CANCEL_CHANNEL, taskId]).catch(() => {});
    }
  }

  private sendNotify(): void {
    this.windowOpen = true;
    this.db.query('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, '']).catch(() => {});
    setTimeout(() => {
      this.windowOpen = false;
      if (this.trailing) {
        this.trailing = false;
        this.sendNotify();
      }
    }, this.debounceMs).unref();
  }

  /** Resolves when a wake-up arrives or after ms, whichever is first (or at once if the signal aborts). */
  waitForWake(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.local.off('wake', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.local.once('wake', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
