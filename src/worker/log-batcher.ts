/**
 * Collects a run's log lines and ships them in batches (every `intervalMs` or `maxBatch`
 * lines), one request at a time and in order, so a chatty command costs a few writes a
 * second rather than one per line. Once the queue refuses a batch (fenced out: the task
 * moved on), later lines are dropped. A program that writes faster than the queue takes
 * loses lines beyond `maxBuffered`, and the log says how many.
 */
import type { NewLog } from '../queue/types.ts';
import { isTransient } from './transport.ts';

/** The logs route takes at most this many entries per request. */
const MAX_PER_REQUEST = 1000;

export interface LogBatcherOptions {
  intervalMs?: number;
  maxBatch?: number;
  /** Lines held while the queue is slow or unreachable; older ones are kept, newer dropped. */
  maxBuffered?: number;
  /** Characters of messages per request, under the API's default 1 MiB body limit. */
  maxBatchChars?: number;
  /** Attempts of one batch on transient errors before it is given up. */
  attempts?: number;
}

export class LogBatcher {
  private buffer: NewLog[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The one shipping loop, while it runs; lines added meanwhile wait in `buffer`. */
  private pumping: Promise<void> | undefined;
  private refused = false;
  private dropped = 0;
  private readonly o: Required<LogBatcherOptions>;

  constructor(
    private readonly send: (logs: NewLog[]) => Promise<boolean>,
    private readonly onError: (err: unknown) => void,
    opts: LogBatcherOptions = {},
  ) {
    this.o = {
      intervalMs: 200,
      maxBatch: 100,
      maxBuffered: 10_000,
      maxBatchChars: 512 * 1024,
      attempts: 3,
      ...opts,
    };
  }

  add(log: NewLog): void {
    if (this.refused) return;
    if (this.buffer.length >= this.o.maxBuffered) {
      this.dropped++;
      return;
    }
    this.buffer.push({ ...log, timestamp: log.timestamp ?? new Date().toISOString() });
    if (this.buffer.length >= this.o.maxBatch) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.o.intervalMs);
  }

  /** Stops shipping: for a run whose task is no longer this worker's. */
  discard(): void {
    this.refused = true;
    clearTimeout(this.timer);
    this.buffer = [];
  }

  /** Resolves once everything logged so far has been written (or refused, or given up). */
  async flush(): Promise<void> {
    this.kick();
    while (this.pumping) await this.pumping;
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pumping ??= this.pump().finally(() => {
      this.pumping = undefined;
    });
  }

  /** Ships until the buffer is empty, one request at a time, so lines stay in order. */
  private async pump(): Promise<void> {
    while (!this.refused) {
      if (this.dropped > 0) {
        this.buffer.push({
          level: 'warning',
          message: `${this.dropped} log lines dropped: the program wrote faster than they could be stored`,
          source: 'worker',
          timestamp: new Date().toISOString(),
        });
        this.dropped = 0;
      }
      const batch = this.take();
      if (batch.length === 0) return;
      await this.ship(batch);
    }
  }

  /** The next request's worth: at most MAX_PER_REQUEST lines and about maxBatchChars. */
  private take(): NewLog[] {
    let n = 0;
    let chars = 0;
    for (const log of this.buffer) {
      chars += log.message.length + 200;
      if (n > 0 && (n >= MAX_PER_REQUEST || chars > this.o.maxBatchChars)) break;
      n++;
    }
    return this.buffer.splice(0, n);
  }

  private async ship(batch: NewLog[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (!(await this.send(batch))) this.discard();
        return;
      } catch (err) {
        if (attempt >= this.o.attempts || !isTransient(err)) {
          this.onError(err);
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }
}
