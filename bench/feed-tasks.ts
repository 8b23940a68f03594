/**
 * Tasks for the feed bench, finished as fast as the queue allows: submitted 1000 per statement
 * with a run label (each measurement's stream filters on its own run), claimed and completed
 * through the queue by one registered worker, 256 per statement as the completion batcher does.
 */
import type { NewTask, Queue, Task } from '../src/queue/index.ts';

export const FEED_WORKER = 'worker-900-feed';
/** Tasks per claim and per completeMany: the completion batcher's maxBatch. */
export const BATCH = 256;
export const SUBMIT_BATCH = 1000;

export async function registerFeedWorker(queue: Queue): Promise<void> {
  await queue.registerWorker({
    id: FEED_WORKER,
    backend_type: 'noop',
    // Room for every task of a lag run at once: claimed up front, finished one by one.
    capabilities: { max_parallel_tasks: 100_000, supported_problems: [] },
    metadata: {},
  });
}

/** `n` one-step tasks labelled `bench_run=<run>`. */
export function newTasks(n: number, run: string, offset = 0): NewTask[] {
  return Array.from({ length: n }, (_, j) => ({
    problem_id: `feed-${(offset + j) % 100}`,
    priority: 5,
    backend_type: null,
    parameters: { max_steps: 1, timeout_minutes: 30, agent_config: {}, labels: { bench_run: run } },
    max_attempts: 1,
    idempotency_key: null,
  }));
}

/** Submits `n` tasks labelled `bench_run=<run>`, SUBMIT_BATCH per statement. */
export async function submitTasks(queue: Queue, n: number, run: string): Promise<void> {
  for (let i = 0; i < n; i += SUBMIT_BATCH)
    await queue.submit(newTasks(Math.min(SUBMIT_BATCH, n - i), run, i));
}

/** Claims `n` queued tasks (all of them held by FEED_WORKER afterwards). */
export async function claimAll(queue: Queue, n: number): Promise<Task[]> {
  const claimed: Task[] = [];
  while (claimed.length < n) {
    const got = await queue.claim(FEED_WORKER, Math.min(BATCH, n - claimed.length));
    if (got.length === 0) throw new Error(`feed bench: claimed ${claimed.length} of ${n} tasks`);
    claimed.push(...got);
  }
  return claimed;
}

/** Claims and completes `n` queued tasks, a batch at a time. */
export async function finishAll(queue: Queue, n: number): Promise<void> {
  for (let done = 0; done < n; ) {
    const claimed = await claimAll(queue, Math.min(BATCH, n - done));
    const ok = await queue.completeMany(
      claimed.map((t) => ({
        task_id: t.id,
        worker_id: FEED_WORKER,
        attempt: t.attempt,
        result: { ok: true },
      })),
    );
    if (ok.size !== claimed.length)
      throw new Error(`feed bench: ${claimed.length - ok.size} completions refused`);
    done += claimed.length;
  }
}
