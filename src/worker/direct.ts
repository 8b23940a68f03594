/**
 * In-process transport: the worker loop's calls go straight to the attempts service and the
 * queue, no HTTP. Completions are batched there (one fenced statement per window). Standalone
 * (tests, the queue benchmark) it claims without a gateway; the server attaches its attempts
 * service and gateway address before it starts the pool.
 */
import { Attempts } from '../attempts/index.ts';
import { FENCING_CODES, type Json, type Lease, type NewLog, type Queue, QueueError } from '../queue/index.ts';
import type { ClaimedTask, Registration, WorkerTransport } from './transport.ts';

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

/** Where in-process attempts get their gateway, set once the server listens. */
export interface AttemptsLink {
  attempts: Attempts;
  /** The gateway as this process's agents reach it (…/llm/v1); null: no gateway. */
  llmBaseUrl: string | null;
}

export class DirectTransport implements WorkerTransport {
  private link: AttemptsLink;

  constructor(private readonly queue: Queue) {
    this.link = { attempts: new Attempts(queue, null), llmBaseUrl: null };
  }

  attach(link: AttemptsLink): void {
    this.link = link;
  }

  private attempts(): Attempts {
    return this.link.attempts;
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

  async claim(workerId: string, max: number, waitMs: number, signal: AbortSignal): Promise<ClaimedTask[]> {
    // A wake-up that lands while the claim statement runs would be missed by a wait begun
    // after it (costing a whole poll interval), so a latch set before the claim remembers it.
    let woken = false;
    const off = this.queue.notifier.onWake(() => {
      woken = true;
    });
    try {
      const tasks = await this.link.attempts.claim(workerId, max, this.link.llmBaseUrl);
      if (tasks.length === 0 && waitMs > 0 && !woken) await this.queue.notifier.waitForWake(waitMs, signal);
      return tasks;
    } finally {
      off();
    }
  }

  async heartbeat(
    workerId: string,
    status: Parameters<Queue['heartbeat']>[1],
    leases: Lease[],
    reason?: string | null,
  ) {
    const r = await this.queue.heartbeat(workerId, status, leases, reason);
    return { lost: r.lost, cancel_requested: r.cancel_requested };
  }

  appendLogs(workerId: string, lease: Lease, logs: NewLog[]) {
    return fenced(this.queue.appendLogs(workerId, lease.task_id, lease.attempt, logs));
  }

  complete(workerId: string, lease: Lease, result: Json) {
    return this.attempts().completeHeld(workerId, lease, result);
  }

  fail(workerId: string, lease: Lease, error: Json, retry: boolean) {
    return fenced(this.attempts().failHeld(workerId, lease, error, retry));
  }

  release(workerId: string, lease: Lease) {
    return fenced(this.attempts().releaseHeld(workerId, lease));
  }

  onCancel(fn: (taskId: string) => void) {
    return this.queue.notifier.onCancel(fn);
  }

  async close(): Promise<void> {
    await this.link.attempts.drain();
  }
}
