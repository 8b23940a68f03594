/**
 * Which attempts are running, as this process last read them: so a task token's attempt check
 * is a database read only on an attempt's first call and then once per `maxAgeMs`, not on
 * every call (it was one round trip of the ~2.5 ms the gateway added to each call).
 *
 * Only "running" is remembered (a refusal is read again every time), and an entry goes as soon
 * as this process hears the attempt is ending:
 *   - a report of the attempt here (gateway.settled, which every complete/fail/release runs
 *     before its transition), or the task's terminal event here (reaper, cancel): at once;
 *   - a report on another replica: through its NOTIFY (queue/notifier.ts), milliseconds later;
 *   - anything no process announced (a reaped attempt sent back to the queue, a NOTIFY lost
 *     while the listening connection reconnects): the entry's age runs out after `maxAgeMs`.
 * So a token whose attempt has ended is refused within GATEWAY_ATTEMPT_CACHE_MS at worst.
 *
 * An ending attempt also leaves a tombstone, so a read that started before the ending and
 * answers "running" after it (the report's transition commits after its settle) cannot put the
 * attempt back: an ended attempt never runs again, so the tombstone is never wrong.
 */
import { BoundedMap } from './bounded-map.ts';

const LIVE_CAPACITY = 20_000;
const TOMBSTONE_CAPACITY = 50_000;

/** `task/attempt` for one attempt, or a bare task id for every attempt of a task. */
export type EndedKey = string;

export const attemptKey = (taskId: string, attempt: number): EndedKey => `${taskId}/${attempt}`;

export class AttemptCache {
  /** Per task: the attempt last read running, and until when that reading is trusted. */
  private readonly live = new BoundedMap<string, { attempt: number; until: number }>(LIVE_CAPACITY);
  private readonly tombstones = new BoundedMap<EndedKey, true>(TOMBSTONE_CAPACITY);

  constructor(
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True when the attempt was read running less than maxAgeMs ago and has not ended since. */
  isLive(taskId: string, attempt: number): boolean {
    const entry = this.live.get(taskId);
    if (!entry || entry.attempt !== attempt) return false;
    if (entry.until > this.now()) return true;
    this.live.delete(taskId);
    return false;
  }

  /** A read (that may have started before an ending) found the attempt running. */
  remember(taskId: string, attempt: number): void {
    if (this.maxAgeMs <= 0) return;
    if (this.tombstones.has(taskId) || this.tombstones.has(attemptKey(taskId, attempt))) return;
    this.live.set(taskId, { attempt, until: this.now() + this.maxAgeMs });
  }

  /** These attempts (`task/attempt`) or whole tasks (a bare id) have ended or are ending. */
  ended(keys: readonly EndedKey[]): void {
    for (const key of keys) {
      const slash = key.indexOf('/');
      const taskId = slash < 0 ? key : key.slice(0, slash);
      const attempt = slash < 0 ? null : Number(key.slice(slash + 1));
      this.tombstones.set(key, true);
      const entry = this.live.get(taskId);
      if (entry && (attempt === null || entry.attempt === attempt)) this.live.delete(taskId);
    }
  }
}
