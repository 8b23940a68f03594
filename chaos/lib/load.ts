/**
 * Load for the fault scenarios: a submitter that keeps submitting command tasks (single and
 * batch calls, each task with an idempotency key, retried with the same key until the API
 * acknowledges it, so a response lost in a crash can neither lose nor duplicate a task), a
 * poller that samples read endpoints, and the analysis of the agents' marks file and of the
 * tasks table once the dust has settled.
 */
import { readFileSync } from 'node:fs';
import { call } from './http.ts';
import { withClient } from './pg.ts';
import { Aborted, sleep } from './util.ts';

export interface SubmitterOptions {
  base: string;
  prefix: string;
  total: number;
  perSecond: number;
  problemId: string;
  maxAttempts: number;
  signal: AbortSignal;
}

export class Submitter {
  /** Idempotency keys the API acknowledged (2xx). */
  readonly acknowledged = new Set<string>();
  /** Failed submit calls by HTTP status or error code. */
  readonly failures = new Map<string, number>();
  calls = 0;
  done = false;
  private readonly stopper = new AbortController();

  constructor(private readonly o: SubmitterOptions) {}

  private body(key: string) {
    return {
      problem_id: this.o.problemId,
      backend_type: 'command',
      max_attempts: this.o.maxAttempts,
      idempotency_key: key,
      labels: { chaos: this.o.prefix },
    };
  }

  /** Stop submitting (what was not acknowledged by then is not counted). */
  stop(): void {
    this.stopper.abort();
  }

  private get signal(): AbortSignal {
    return AbortSignal.any([this.o.signal, this.stopper.signal]);
  }

  async run(): Promise<void> {
    let i = 0;
    let group = 0;
    const started = Date.now();
    try {
      while (i < this.o.total) {
        // Alternate one-task submits and batches of five.
        const size = group++ % 2 === 0 ? 1 : Math.min(5, this.o.total - i);
        const keys = Array.from({ length: size }, (_, k) => `${this.o.prefix}-${i + k}`);
        await this.submitUntilAcknowledged(keys);
        i += size;
        const due = started + (i / this.o.perSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now(), this.signal);
      }
    } catch (err) {
      if (!(err instanceof Aborted)) throw err;
    } finally {
      this.done = true;
    }
  }

  private async submitUntilAcknowledged(keys: string[]): Promise<void> {
    for (;;) {
      this.calls++;
      const single = keys.length === 1;
      const payload = single ? this.body(keys[0]!) : { tasks: keys.map((k) => this.body(k)) };
      let outcome: string;
      try {
        const a = await call(this.o.base, 'POST', single ? '/api/v1/tasks' : '/api/v1/tasks/batch', {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
          timeoutMs: 20_000,
          signal: this.signal,
        });
        if (a.status >= 200 && a.status < 300) {
          for (const k of keys) this.acknowledged.add(k);
          return;
        }
        outcome = `HTTP ${a.status}`;
      } catch (err) {
        outcome = (err as { code?: string }).code ?? 'ERROR';
        if (outcome === 'ABORTED') throw new Aborted('aborted');
      }
      this.failures.set(outcome, (this.failures.get(outcome) ?? 0) + 1);
      await sleep(200, this.signal);
    }
  }
}

export interface Sample {
  at: number;
  path: string;
  /** HTTP status, or the client error code (TIMEOUT, ECONNREFUSED…). */
  outcome: number | string;
  ms: number;
}

/** Starts a read every intervalMs (not waiting for the previous one), at most maxInFlight at once. */
export class Poller {
  readonly samples: Sample[] = [];
  private inFlight = 0;
  skipped = 0;

  constructor(
    private readonly base: string,
    private readonly paths: string[],
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly maxInFlight = 64,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    let n = 0;
    const pending = new Set<Promise<void>>();
    try {
      while (!signal.aborted) {
        if (this.inFlight < this.maxInFlight) {
          const path = this.paths[n++ % this.paths.length]!;
          const p = this.one(path);
          pending.add(p);
          void p.finally(() => pending.delete(p));
        } else this.skipped++;
        await sleep(this.intervalMs, signal);
      }
    } catch (err) {
      if (!(err instanceof Aborted)) throw err;
    }
    await Promise.all(pending);
  }

  private async one(path: string): Promise<void> {
    this.inFlight++;
    const at = Date.now();
    try {
      const a = await call(this.base, 'GET', path, { timeoutMs: this.timeoutMs });
      this.samples.push({ at, path, outcome: a.status, ms: a.ms });
    } catch (err) {
      const e = err as { code?: string; ms?: number };
      this.samples.push({ at, path, outcome: e.code ?? 'ERROR', ms: e.ms ?? Date.now() - at });
    } finally {
      this.inFlight--;
    }
  }
}

export function histogram(values: (number | string)[]): string {
  const m = new Map<string, number>();
  for (const v of values) m.set(String(v), (m.get(String(v)) ?? 0) + 1);
  return [...m.entries()]
    .sort()
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');
}

export interface AttemptMarks {
  attempt: number;
  starts: number;
  first: number;
  last: number;
  ended: boolean;
  termed: boolean;
  pids: Set<number>;
}

/** Per task id, per attempt: what the agents wrote to the marks file. */
export function readMarks(file: string): Map<string, Map<number, AttemptMarks>> {
  const out = new Map<string, Map<number, AttemptMarks>>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [kind, task, attemptText, atText, pidText] = line.trim().split(' ');
    if (!kind || !task || !attemptText || !atText) continue;
    const attempt = Number(attemptText);
    const at = Number(atText);
    let byAttempt = out.get(task);
    if (!byAttempt) {
      byAttempt = new Map();
      out.set(task, byAttempt);
    }
    let a = byAttempt.get(attempt);
    if (!a) {
      a = { attempt, starts: 0, first: at, last: at, ended: false, termed: false, pids: new Set() };
      byAttempt.set(attempt, a);
    }
    a.first = Math.min(a.first, at);
    a.last = Math.max(a.last, at);
    if (pidText) a.pids.add(Number(pidText));
    if (kind === 'start') a.starts++;
    if (kind === 'end') a.ended = true;
    if (kind === 'term') a.termed = true;
  }
  return out;
}

export interface Overlap {
  task: string;
  earlier: number;
  later: number;
  ms: number;
}

/** Two attempts of one task alive at the same time: an earlier one still marking after a later one started. */
export function overlaps(marks: Map<string, Map<number, AttemptMarks>>): Overlap[] {
  const found: Overlap[] = [];
  for (const [task, byAttempt] of marks) {
    const list = [...byAttempt.values()].sort((a, b) => a.first - b.first);
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length; j++)
        if (list[i]!.last > list[j]!.first)
          found.push({
            task,
            earlier: list[i]!.attempt,
            later: list[j]!.attempt,
            ms: list[i]!.last - list[j]!.first,
          });
    for (const a of list) if (a.starts > 1) found.push({ task, earlier: a.attempt, later: a.attempt, ms: 0 });
  }
  return found;
}

export interface TaskRow {
  id: string;
  idempotency_key: string | null;
  status: string;
  attempt: number;
  max_attempts: number;
  result: { attempt?: number } | null;
  error_details: unknown;
  lease_expires_at: Date | null;
}

export async function tasksByPrefix(dbUrl: string, prefix: string): Promise<TaskRow[]> {
  return withClient(dbUrl, async (c) => {
    const r = await c.query<TaskRow>(
      `SELECT id, idempotency_key, status, attempt, max_attempts, result, error_details, lease_expires_at
         FROM tasks WHERE idempotency_key LIKE $1`,
      [`${prefix}-%`],
    );
    return r.rows;
  });
}

export const TERMINAL = new Set(['completed', 'failed', 'timeout', 'cancelled']);

/**
 * The end-state checks shared by the load scenarios: none lost or duplicated, every task
 * ended (completed), results from the attempt that holds the task, no two attempts at once.
 */
export function settleReport(
  rows: TaskRow[],
  acknowledged: Set<string>,
  marks: Map<string, Map<number, AttemptMarks>>,
) {
  const keys = new Set(rows.map((r) => r.idempotency_key ?? ''));
  const lost = [...acknowledged].filter((k) => !keys.has(k));
  const notEnded = rows.filter((r) => !TERMINAL.has(r.status));
  const notCompleted = rows.filter((r) => r.status !== 'completed');
  const wrongResult = rows.filter((r) => r.status === 'completed' && r.result?.attempt !== r.attempt);
  const neverRan = rows.filter((r) => r.status === 'completed' && !marks.has(r.id));
  const reruns = rows.filter((r) => (marks.get(r.id)?.size ?? 0) > 1).length;
  const over = overlaps(marks);
  return { lost, notEnded, notCompleted, wrongResult, neverRan, reruns, overlaps: over };
}
