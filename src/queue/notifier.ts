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

export class WakeNotifier {
  private readonly local = new EventEmitter();
  private windowOpen = false;
  private trailing = false;
  private unlisten: Array<() => Promise<void>> = [];

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
  }

  async stop(): Promise<void> {
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
