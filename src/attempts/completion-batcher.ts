/**
 * Completions, batched: every completion that arrives within one short window — from the
 * in-process workers and from HTTP reports alike — is written by ONE fenced statement
 * (queue.completeBatch). That is what lets a pool of in-process workers, or many remote
 * workers reporting at once, drain thousands of short tasks a second. Each completion still
 * gets its own verdict: a stale attempt in the batch is refused, the others go through.
 */
import type { Json, Lease, Queue, Task } from '../queue/index.ts';

interface PendingCompletion {
  task_id: string;
  worker_id: string;
  attempt: number;
  result: Json;
  resolve: (task: Task | null) => void;
  reject: (err: unknown) => void;
}

export class CompletionBatcher {
  private pending: PendingCompletion[] = [];
  private scheduled = false;

  constructor(
    private readonly queue: Queue,
    private readonly maxBatch = 256,
  ) {}

  /** Resolves with the task completed (or cancelled), or null when the fence refused it. */
  complete(workerId: string, lease: Lease, result: Json): Promise<Task | null> {
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
        // One macrotask: collects what the other workers (or requests) finish in the same
        // turn, and adds ~no latency.
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
      const done = await this.queue.completeBatch(batch);
      for (const [i, c] of batch.entries()) c.resolve(done[i] ?? null);
    } catch (err) {
      for (const c of batch) c.reject(err);
    }
  }
}
