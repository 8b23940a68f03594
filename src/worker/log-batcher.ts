/**
 * Collects a run's log lines and ships them in batches (every `intervalMs` or `maxBatch`
 * lines), one request at a time, so a chatty command costs a few writes a second rather
 * than one per line. Once the queue refuses a batch (fenced out), later lines are dropped.
 */
import type { NewLog } from '../queue/types.ts';

export class LogBatcher {
  private buffer: NewLog[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private refused = false;

  constructor(
    private readonly send: (logs: NewLog[]) => Promise<boolean>,
    private readonly onError: (err: unknown) => void,
    private readonly intervalMs = 200,
    private readonly maxBatch = 100,
  ) {}

  add(log: NewLog): void {
    if (this.refused) return;
    this.buffer.push({ ...log, timestamp: log.timestamp ?? new Date().toISOString() });
    if (this.buffer.length >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  /** Sends everything buffered so far; resolves when it has been written (or refused). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer.splice(0);
    if (batch.length > 0 && !this.refused) {
      this.inFlight = this.inFlight.then(async () => {
        if (this.refused) return;
        try {
          if (!(await this.send(batch))) this.refused = true;
        } catch (err) {
          this.onError(err);
        }
      });
    }
    return this.inFlight;
  }
}
