/**
 * Writes call records after their clients have been answered, without losing the order or
 * the completeness a trainer relies on:
 *   - records of one conversation are written one after another, in the order the calls
 *     finished (a promise chain per conversation), so the prefix logic always compares with
 *     the previous call's context;
 *   - every call is known from the moment it is let through (`begin`), per attempt, so
 *     `settled(taskId, attempt)` covers calls still waiting on their upstream: it resolves once
 *     every call of that attempt is recorded — never another attempt's, so a stale report
 *     cannot cut the live attempt's calls. A report waits for it before the task's completion
 *     or failure is stored; a call still in flight after a grace period is cut (its record
 *     says `attempt_ended`), and the wait for the records has a hard limit too;
 *   - a record that hits a database outage is retried (0.1 s, 0.5 s, 2 s) before it is given
 *     up with an error log (and counted by the caller).
 * It also remembers the head each record leaves, so the next record of the conversation is
 * one statement (recorder.ts).
 */
import { isDatabaseUnavailable } from '../db/errors.ts';
import { BoundedMap } from './bounded-map.ts';
import { AlreadyRecorded, type CallRecord, type Head, type Recorded, type Recorder } from './recorder.ts';

export interface RecordLogger {
  error(obj: object, msg: string): void;
}

const RETRY_DELAYS_MS = [100, 500, 2000];

/** One call from the moment it is let through until its record is written. */
export interface Flight {
  /** The call's id (its row in llm_calls_in_flight). */
  readonly id: string;
  /** Aborted when the task's attempt is being closed and the call overstayed the grace. */
  readonly signal: AbortSignal;
  /** Marks the call as done (recorded, or refused before anything was sent). */
  finish(): void;
}

interface FlightState extends Flight {
  done: Promise<void>;
  abort(): void;
}

const attemptKey = (taskId: string, attempt: number) => `${taskId}/${attempt}`;

export class RecordQueue {
  private readonly heads = new BoundedMap<string, Head>(20_000);
  private readonly chains = new Map<string, Promise<void>>();
  private readonly flights = new Map<string, Set<FlightState>>();
  private readonly byId = new Map<string, FlightState>();

  constructor(
    private readonly recorder: Recorder,
    private readonly logger: RecordLogger,
  ) {}

  /** Registers a call (id: its in-flight row) of the task's attempt that is about to be forwarded. */
  begin(taskId: string, attempt: number, id: string): Flight {
    const key = attemptKey(taskId, attempt);
    const controller = new AbortController();
    let finish = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const flight: FlightState = {
      id,
      signal: controller.signal,
      finish,
      done,
      abort: () => controller.abort(),
    };
    const set = this.flights.get(key) ?? new Set<FlightState>();
    this.flights.set(key, set);
    set.add(flight);
    this.byId.set(id, flight);
    void done.then(() => {
      set.delete(flight);
      this.byId.delete(id);
      if (set.size === 0 && this.flights.get(key) === set) this.flights.delete(key);
    });
    return flight;
  }

  /** The conversation's head as this process's last record of it left it, when known. */
  headOf(conversationId: string): Head | undefined {
    return this.heads.get(conversationId);
  }

  /** The ids of the calls this process has let through and not yet recorded. */
  liveIds(): string[] {
    return [...this.byId.keys()];
  }

  /** Cuts these calls (another replica's report asked for it); unknown ids are ignored. */
  cut(ids: readonly string[]): void {
    for (const id of ids) this.byId.get(id)?.abort();
  }

  /**
   * Queues the record after the conversation's previous one; `then` runs with its outcome
   * (null: given up), and the flight finishes once it is written. Never rejects.
   */
  add(record: CallRecord, flight: Flight, then: (recorded: Recorded | null) => void): void {
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
      flight.finish();
    });
  }

  /**
   * Resolves true when every call of the attempt let through so far is recorded. Calls still
   * in flight after `graceMs` are aborted (and then recorded as such); if their records are
   * still not written `recordLimitMs` later (a database outage), it resolves false rather
   * than hold the report any longer.
   */
  async settled(taskId: string, attempt: number, graceMs: number, recordLimitMs: number): Promise<boolean> {
    const flights = [...(this.flights.get(attemptKey(taskId, attempt)) ?? [])];
    if (flights.length === 0) return true;
    const timers: NodeJS.Timeout[] = [];
    const cut = new Promise<void>((resolve) => {
      timers.push(
        setTimeout(() => {
          for (const f of flights) f.abort();
          resolve();
        }, graceMs),
      );
    });
    const limit = cut.then(
      () =>
        new Promise<false>((resolve) => {
          timers.push(setTimeout(() => resolve(false), recordLimitMs));
        }),
    );
    try {
      return await Promise.race([Promise.all(flights.map((f) => f.done)).then(() => true as const), limit]);
    } finally {
      for (const t of timers) clearTimeout(t);
    }
  }

  /** Waits for every queued record (at shutdown, before the database closes). */
  async drain(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
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
        // A recovered call somebody else recorded first: nothing lost, nothing to retry.
        if (err instanceof AlreadyRecorded) {
          this.heads.delete(id);
          return null;
        }
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
