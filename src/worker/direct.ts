/**
 * In-process transport: calls the queue directly. Completions are batched: every completion
 * that arrives within one short window is written by ONE fenced statement (queue.completeMany),
 * which is what lets a pool of in-process workers drain thousands of short tasks a second.
 */
import {
  FENCING_CODES,
  type Json,
  type Lease,
  type NewLog,
  type Queue,
  QueueError,
  type Task,
} from '../queue/index.ts';
import type { ClaimedTask, LlmAccess, Registration, WorkerTransport } from './transport.ts';

/** Fencing refusals become `false`; anything else (database down…) is a real error. */
async function fenced(op: Promise<unknown>): Promise<boolean> {
  try {
    await op;
    return true;
  } catch (err) {
    if (err instanceof QueueError && (FENCING_CODES.has(err.code) || err.code === 'TASK_NOT_FOUND'))
      return false;
    throw err;
  }
}

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

/** What the in-process transport needs of the LLM gateway. */
export interface GatewayLink {
  access(task: Task): Promise<LlmAccess>;
  /** Resolves when the task's LLM calls are all recorded. */
  settled(taskId: string): Promise<void>;
}

export class DirectTransport implements WorkerTransport {
  private gateway: GatewayLink | null = null;

  constructor(
    private readonly queue: Queue,
    private readonly completions = new CompletionBatcher(queue),
  ) {}

  /** The gateway exists (and knows its address) only once the server listens. */
  setGateway(link: GatewayLink): void {
    this.gateway = link;
  }

  async register(reg: Registration): Promise<void> {
    await this.queue.registerWorker({
      id: reg.id,
      backend_type: reg.backend_type,
      capabilities: {
        max_parallel_tasks: reg.max_parallel_tasks,
        supported_problems: reg.supported_problems,
      },
      metadata: reg.metadata,
    });
  }

  async claim(workerId: string, max: number, waitMs: number, signal: AbortSignal) {
    // A wake-up that lands while the claim statement runs would be missed by a wait begun
    // after it (costing a whole poll interval), so a latch set before the claim remembers it.
    let woken = false;
    const off = this.queue.notifier.onWake(() => {
      woken = true;
    });
    try {
      const tasks: ClaimedTask[] = await this.queue.claim(workerId, max);
      if (tasks.length === 0 && waitMs > 0 && !woken) await this.queue.notifier.waitForWake(waitMs, signal);
      const gateway = this.gateway;
      return gateway ? Promise.all(tasks.map(async (t) => ({ ...t, ...(await gateway.access(t)) }))) : tasks;
    } finally {
      off();
    }
  }

  async heartbeat(workerId: string, status: Parameters<Queue['heartbeat']>[1], leases: Lease[]) {
    const r = await this.queue.heartbeat(workerId, status, leases);
    return { lost: r.lost, cancel_requested: r.cancel_requested };
  }

  appendLogs(workerId: string, lease: Lease, logs: NewLog[]) {
    return fenced(this.queue.appendLogs(workerId, lease.task_id, lease.attempt, logs));
  }

  async complete(workerId: string, lease: Lease, result: Json) {
    // The task's LLM calls are all recorded before it is seen finished.
    await this.gateway?.settled(lease.task_id);
    return this.completions.complete(workerId, lease, result);
  }

  async fail(workerId: string, lease: Lease, error: Json, retry: boolean) {
    await this.gateway?.settled(lease.task_id);
    return fenced(this.queue.fail(workerId, lease.task_id, lease.attempt, error, retry));
  }

  release(workerId: string, lease: Lease) {
    return fenced(this.queue.release(workerId, lease.task_id, lease.attempt));
  }

  onCancel(fn: (taskId: string) => void) {
    return this.queue.notifier.onCancel(fn);
  }

  close(): Promise<void> {
    return this.completions.drain();
  }
}
