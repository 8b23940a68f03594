/**
 * Writes call records after their clients have been answered, without losing the order or
 * the completeness a trainer relies on:
 *   - records of one conversation are written one after another, in the order the calls
 *     finished (a promise chain per conversation), so the prefix logic always compares with
 *     the previous call's context;
 *   - `settled(taskId)` resolves once every record of the task is written; workers wait for it
 *     before a task's completion or failure is stored;
 *   - a record that hits a database outage is retried (0.1 s, 0.5 s, 2 s) before it is given
 *     up with an error log (and counted by the caller).
 * It also remembers the head each record leaves, so the next record of the conversation is
 * one statement (recorder.ts).
 */
import { isDatabaseUnavailable } from '../db/errors.ts';
import { BoundedMap } from './bounded-map.ts';
import type { CallRecord, Head, Recorded, Recorder } from './recorder.ts';

export interface RecordLogger {
  error(obj: object, msg: string): void;
}

const RETRY_DELAYS_MS = [100, 500, 2000];

export class RecordQueue {
  private readonly heads = new BoundedMap<string, Head>(20_000);
  private readonly chains = new Map<string, Promise<void>>();
  private readonly pendingByTask = new Map<string, Set<Promise<void>>>();

  constructor(
    private readonly recorder: Recorder,
    private readonly logger: RecordLogger,
  ) {}

  /** Queues the record; `then` runs with its outcome (null: given up). Never rejects. */
  add(record: CallRecord, then: (recorded: Recorded | null) => void): void {
    const id = record.conversationId;
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(async () => {
      const recorded = await this.write(record);
      try {
        then(recorded);
      } catch (err) {
        this.logger.error({ err, conversation_id: id }, 'after-record step failed');
      }
    });
    this.chains.set(id, next);
    void next.finally(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    });
    this.track(record.taskId, next);
  }

  async settled(taskId: string): Promise<void> {
    const pending = this.pendingByTask.get(taskId);
    if (pending) await Promise.all(pending);
  }

  /** Waits for every queued record (at shutdown, before the database closes). */
  async drain(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private track(taskId: string, p: Promise<void>): void {
    const set = this.pendingByTask.get(taskId) ?? new Set<Promise<void>>();
    this.pendingByTask.set(taskId, set);
    set.add(p);
    void p.finally(() => {
      set.delete(p);
      if (set.size === 0 && this.pendingByTask.get(taskId) === set) this.pendingByTask.delete(taskId);
    });
  }

  /** Never throws: a record that cannot be written is logged and reported as null. */
  private async write(record: CallRecord): Promise<Recorded | null> {
    const id = record.conversationId;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.recorder.record(record, this.heads.get(id));
        this.heads.set(id, r.head);
        return r;
      } catch (err) {
        // The head may be what failed; the next try reads it under lock.
        this.heads.delete(id);
        const delay = RETRY_DELAYS_MS[attempt];
        if (!isDatabaseUnavailable(err) || delay === undefined) {
          this.logger.error(
            { err, task_id: record.taskId, conversation_id: id },
            'llm call could not be recorded',
          );
          return null;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
