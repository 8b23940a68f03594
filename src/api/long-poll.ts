/**
 * The claim long-poll: try to claim; when the queue is empty, sleep until a wake-up (a
 * submit in this process, or a NOTIFY from another) or the poll interval, and try again,
 * until the wait runs out or the caller goes away.
 */
import type { Queue } from '../queue/queue.ts';
import type { Task } from '../queue/types.ts';

export async function claimWithWait(
  queue: Queue,
  workerId: string,
  waitMs: number,
  pollMs: number,
  signal: AbortSignal,
): Promise<Task | null> {
  const deadline = Date.now() + waitMs;
  // A wake-up that lands while a claim is in flight would be missed by a waitForWake begun
  // after it (costing a whole poll interval), so a latch remembers it and we loop at once.
  let woken = false;
  const off = queue.notifier.onWake(() => {
    woken = true;
  });
  try {
    for (;;) {
      woken = false;
      // A task claimed for a client that has gone would sit leased until the reaper frees it.
      if (signal.aborted) return null;
      const [task] = await queue.claim(workerId, 1);
      if (task && signal.aborted) {
        // The caller left while this claim ran: nobody will run it, so give it straight back
        // rather than leave it leased (and charged an attempt) until the reaper frees it.
        await queue.release(workerId, task.id, task.attempt).catch(() => {});
        return null;
      }
      if (task) return task;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return null;
      if (!woken) await queue.notifier.waitForWake(Math.min(remaining, pollMs), signal);
    }
  } finally {
    off();
  }
}
