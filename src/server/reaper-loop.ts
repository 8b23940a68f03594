/** Runs reaper passes every TIMEOUT_CHECK_INTERVAL seconds, one at a time, never overlapping. */
import { type Queue, type ReapResult, reapOnce } from '../queue/index.ts';

export class ReaperLoop {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<unknown> | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly intervalSeconds: number,
    private readonly heartbeatTimeoutSeconds: number,
    private readonly onPass: (r: ReapResult) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), this.intervalSeconds * 1000);
    this.timer.unref();
    void this.runOnce();
  }

  /** One pass now (skipped if one is already running). */
  async runOnce(): Promise<void> {
    if (this.current) return;
    // Passes normally come every interval; a gap of a lease (and several intervals) means nobody
    // could reach the database, so leases that lapsed meanwhile are honoured, not reaped.
    const outageAfterSeconds = Math.max(this.queue.leaseSeconds, 3 * this.intervalSeconds);
    this.current = reapOnce(this.queue, this.heartbeatTimeoutSeconds, { outageAfterSeconds })
      .then((r) => r && this.onPass(r))
      .catch(this.onError)
      .finally(() => {
        this.current = undefined;
      });
    await this.current;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.current;
  }
}
