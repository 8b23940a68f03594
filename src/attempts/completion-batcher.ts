/**
 * Completions of in-process attempts, batched: every completion that arrives within one short
 * window is written by ONE fenced statement (queue.completeMany), which is what lets a pool of
 * in-process workers drain thousands of short tasks a second.
 */
import type { Json, Lease, Queue } from '../queue/index.ts';

interface PendingCompletion {
  task_id: string;
  worker_id: string;
  attempt: number;
  result: Json;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

export class CompletionBatcher {
  private pending: PendingCompletion[] = [];
  private scheduled = false;

  constructor(
    private readonly queue: Queue,
    private readonly maxBatch = 256,
  ) {}

  /** Resolves false when the fence refused it (the attempt is no longer current). */
  complete(workerId: string, lease: Lease, result: Json): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({
        task_id: lease.task_id,
        worker_id: workerId,
        attempt: lease.attempt,
        result,
        resolve,
        reject,
      });
      if (this.pending.length >= this.maxBatch) void this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        // One macrotask: collects what the other workers finish in the same turn, adds ~no latency.
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Writes whatever is pending now (at shutdown, so no completion waits on a timer). */
  async drain(): Promise<void> {
    while (this.pending.length > 0) await this.flush();
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.pending.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    try {
      const ok = await this.queue.completeMany(batch);
      for (const c of batch) c.resolve(ok.has(c.task_id));
    } catch (err) {
      for (const c of batch) c.reject(err);
    }
  }
}
