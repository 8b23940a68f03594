/**
 * The claim long-poll: try to claim; when the queue is empty, sleep until a wake-up (a
 * submit in this process, or a NOTIFY from another) or the poll interval, and try again,
 * until the wait runs out or the caller goes away.
 */
import type { Attempts, ClaimedAttempt } from '../attempts/index.ts';
import type { Queue } from '../queue/queue.ts';

export async function claimWithWait(
  attempts: Attempts,
  notifier: Queue['notifier'],
  workerId: string,
  llmBaseUrl: string,
  timing: { waitMs: number; pollMs: number; claimKey?: string | null },
  signal: AbortSignal,
): Promise<ClaimedAttempt | null> {
  const { waitMs, pollMs } = timing;
  const deadline = Date.now() + waitMs;
  // A wake-up that lands while a claim is in flight would be missed by a waitForWake begun
  // after it (costing a whole poll interval), so a latch remembers it and we loop at once.
  let woken = false;
  const off = notifier.onWake(() => {
    woken = true;
  });
  try {
    for (;;) {
      woken = false;
      // A task claimed for a client that has gone would sit leased until the reaper frees it.
      if (signal.aborted) return null;
      const [task] = await attempts.claim(workerId, 1, llmBaseUrl, timing.claimKey ?? null);
      if (task && signal.aborted) {
        // The caller left while this claim ran: nobody will run it, so give it straight back
        // rather than leave it leased (and charged an attempt) until the reaper frees it.
        await attempts.releaseHeld(workerId, { task_id: task.id, attempt: task.attempt }).catch(() => {});
        return null;
      }
      if (task) return task;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return null;
      if (!woken) await notifier.waitForWake(Math.min(remaining, pollMs), signal);
    }
  } finally {
    off();
  }
}
