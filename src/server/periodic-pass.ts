/**
 * A background job run every N seconds, one pass at a time, never overlapping: the reaper and
 * the history upkeep. `stopped()` lets a long pass end between batches on shutdown.
 */
export class PeriodicPass {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<unknown> | undefined;
  private stopping = false;

  constructor(
    private readonly intervalSeconds: number,
    private readonly pass: (stopped: () => boolean) => Promise<void>,
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
    this.current = this.pass(() => this.stopping)
      .catch(this.onError)
      .finally(() => {
        this.current = undefined;
      });
    await this.current;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.current;
  }
}
