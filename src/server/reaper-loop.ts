/** Runs reaper passes every TIMEOUT_CHECK_INTERVAL seconds, one at a time, never overlapping. */
import { type Queue, type ReapResult, reapOnce } from '../queue/index.ts';
import { PeriodicPass } from './periodic-pass.ts';

export function reaperLoop(
  queue: Queue,
  intervalSeconds: number,
  heartbeatTimeoutSeconds: number,
  onPass: (r: ReapResult) => void,
  onError: (err: unknown) => void,
): PeriodicPass {
  // Passes normally come every interval; a gap of a lease (and several intervals) means nobody
  // could reach the database, so leases that lapsed meanwhile are honoured, not reaped.
  const outageAfterSeconds = Math.max(queue.leaseSeconds, 3 * intervalSeconds);
  return new PeriodicPass(
    intervalSeconds,
    async () => {
      const r = await reapOnce(queue, heartbeatTimeoutSeconds, { outageAfterSeconds });
      if (r) onPass(r);
    },
    onError,
  );
}
