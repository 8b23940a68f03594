/**
 * Remote transport: the worker protocol over the REST API. Transient trouble (connection
 * refused, 502/503/504) is retried with backoff, because a worker should ride out an API
 * restart; a 409 is the queue saying "not yours any more" and is never retried.
 *
 * Few round trips per task: a claim asks for every free slot (`max_tasks`); completions and
 * failures made in the same turn go in one request (`/reports`, or the single report endpoint
 * when there is one), which also claims as many next tasks as it frees slots (`claim_next`),
 * handed to the worker through attachWorker. So a busy worker makes about one request per
 * batch of finished tasks, and no separate claim at all.
 */

import { randomUUID } from 'node:crypto';
import type { Json, Lease, NewLog, Task, WorkerStatus } from '../queue/types.ts';
import { type RawResponse, requestText } from './http-client.ts';
import {
  type ClaimedTask,
  type ClaimTaker,
  type HeartbeatReply,
  HttpError,
  type Registration,
  type WorkerTransport,
} from './transport.ts';

export { HttpError } from './transport.ts';

/** The queue's "not yours any more" codes: answered 409 (404 once the task is gone). */
const FENCING = new Set([
  'TASK_NOT_HELD',
  'STALE_ATTEMPT',
  'TASK_ALREADY_TERMINAL',
  'TASK_NOT_RUNNING',
  'TASK_NOT_FOUND',
]);
const TRANSIENT_STATUS = new Set([502, 503, 504]);
/** A call that hangs longer than this (beyond a long-poll's own wait) is given up and retried. */
const CALL_TIMEOUT_MS = 30_000;

export interface HttpTransportOptions {
  /** Attempts for one call before giving up on transient errors. */
  retries?: number;
  /** First backoff delay; doubles each retry (capped at 10 s). */
  backoffMs?: number;
  /** Sent as `Authorization: Bearer <token>` when the API requires worker tokens. */
  token?: string;
}

/** A completion or failure waiting for this turn's report request. */
interface QueuedReport {
  lease: Lease;
  outcome: 'complete' | 'fail';
  result?: Json;
  error?: Json;
  retry?: boolean;
  resolve(accepted: boolean): void;
  reject(err: unknown): void;
}

/** A claim's answer: null, one task (the predecessor's form), or `{ tasks }` (with max_tasks). */
type ClaimAnswer = (Task & { tasks?: ClaimedTask[] }) | { tasks: ClaimedTask[] } | null;

export class HttpTransport implements WorkerTransport {
  private readonly base: string;
  private readonly takers = new Map<string, ClaimTaker>();
  private queued = new Map<string, QueuedReport[]>();
  private flushScheduled = false;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly headers: Record<string, string>;

  constructor(apiUrl: string, opts: HttpTransportOptions = {}) {
    this.base = `${apiUrl.replace(/\/+$/, '')}/api/v1`;
    this.retries = opts.retries ?? 6;
    this.backoffMs = opts.backoffMs ?? 250;
    this.headers = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  }

  async register(reg: Registration): Promise<void> {
    await this.call('POST', '/workers/register', {
      worker_id: reg.id,
      backend_type: reg.backend_type,
      capabilities: {
        max_parallel_tasks: reg.max_parallel_tasks,
        supported_problems: reg.supported_problems,
      },
      metadata: reg.metadata,
    });
  }

  attachWorker(workerId: string, taker: ClaimTaker): () => void {
    this.takers.set(workerId, taker);
    return () => {
      if (this.takers.get(workerId) === taker) this.takers.delete(workerId);
    };
  }

  /** Up to `max` tasks per call; the server long-polls for up to waitMs. */
  async claim(workerId: string, max: number, waitMs: number, signal: AbortSignal): Promise<ClaimedTask[]> {
    const wait = Math.min(60, Math.floor(waitMs / 1000));
    const answer = await this.call<ClaimAnswer>(
      'POST',
      // One id per claim, reused by call()'s retries: a retry after a lost response gets the
      // same tasks back instead of leaving them leased to nobody.
      `/workers/${enc(workerId)}/claim?wait=${wait}&claim_id=${randomUUID()}`,
      { max_tasks: Math.max(1, Math.min(100, max)) },
      signal,
      CALL_TIMEOUT_MS + wait * 1000,
    );
    return claimedTasks(answer);
  }

  async heartbeat(
    workerId: string,
    status: WorkerStatus,
    leases: Lease[],
    reason?: string | null,
  ): Promise<HeartbeatReply> {
    const r = await this.call<{ lost_task_ids: string[]; cancel_task_ids: string[] }>(
      'POST',
      `/workers/${enc(workerId)}/heartbeat`,
      { status, tasks: leases, status_reason: reason },
    );
    return { lost: r.lost_task_ids, cancel_requested: r.cancel_task_ids };
  }

  appendLogs(workerId: string, lease: Lease, logs: NewLog[]) {
    return this.single(workerId, lease, 'logs', { attempt: lease.attempt, logs }).then((r) => r !== false);
  }

  complete(workerId: string, lease: Lease, result: Json) {
    return this.enqueue(workerId, { lease, outcome: 'complete', result });
  }

  fail(workerId: string, lease: Lease, error: Json, retry: boolean) {
    return this.enqueue(workerId, { lease, outcome: 'fail', error, retry });
  }

  release(workerId: string, lease: Lease) {
    return this.single(workerId, lease, 'release', { worker_id: workerId, attempt: lease.attempt }).then(
      (r) => r !== false,
    );
  }

  private enqueue(workerId: string, r: Omit<QueuedReport, 'resolve' | 'reject'>): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const list = this.queued.get(workerId) ?? [];
      list.push({ ...r, resolve, reject });
      this.queued.set(workerId, list);
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // One macrotask: the runs that finish in the same turn share one request.
      setImmediate(() => {
        this.flushScheduled = false;
        const all = this.queued;
        this.queued = new Map();
        for (const [id, reports] of all) void this.sendReports(id, reports);
      });
    });
  }

  /** Sends one turn's reports, claiming as many next tasks as they free slots. */
  private async sendReports(workerId: string, reports: QueuedReport[]): Promise<void> {
    const taker = this.takers.get(workerId);
    const claimNext = taker?.accepting() ? reports.length : 0;
    // Reused by call()'s retries: a retried request gets the tasks its claim handed out.
    const claimId = claimNext > 0 ? randomUUID() : undefined;
    try {
      let accepted: boolean[];
      let next: ClaimedTask[] = [];
      if (reports.length === 1) {
        const [r] = reports as [QueuedReport];
        const answer = await this.single(workerId, r.lease, r.outcome, {
          ...singleBody(workerId, r),
          ...(claimNext > 0 ? { claim_next: claimNext, claim_id: claimId } : {}),
        });
        accepted = [answer !== false];
        next = answer ? (answer.next_tasks ?? []) : [];
      } else {
        const answer = await this.call<{ results: Array<{ accepted: boolean }>; tasks: ClaimedTask[] }>(
          'POST',
          `/workers/${enc(workerId)}/reports`,
          {
            reports: reports.map((r) => ({
              task_id: r.lease.task_id,
              attempt: r.lease.attempt,
              outcome: r.outcome,
              ...(r.outcome === 'complete'
                ? { result: r.result }
                : { error_details: r.error, retry: r.retry }),
            })),
            claim_next: claimNext,
            ...(claimId ? { claim_id: claimId } : {}),
          },
        );
        accepted = answer.results.map((v) => v.accepted);
        next = answer.tasks ?? [];
      }
      if (next.length > 0) this.handOver(workerId, next);
      for (const [i, r] of reports.entries()) r.resolve(accepted[i] ?? false);
    } catch (err) {
      // A refusal of what one report carried (413: a result over the body limit, 422) must not
      // sink the others: send each alone, so only the offending one is refused.
      if (reports.length > 1 && err instanceof HttpError && [400, 413, 422].includes(err.status)) {
        for (const r of reports) void this.sendReports(workerId, [r]);
        return;
      }
      for (const r of reports) r.reject(err);
    }
  }

  /** Tasks a report claimed go to the worker; without one (it detached), straight back. */
  private handOver(workerId: string, tasks: ClaimedTask[]): void {
    const taker = this.takers.get(workerId);
    if (taker) {
      taker.take(tasks);
      return;
    }
    for (const t of tasks) void this.release(workerId, { task_id: t.id, attempt: t.attempt }).catch(() => {});
  }

  /** One report on one task; false when the queue refused it by fencing. */
  private async single(
    workerId: string,
    lease: Lease,
    what: string,
    body: unknown,
  ): Promise<{ next_tasks?: ClaimedTask[] } | false> {
    try {
      const answer = await this.call<{ next_tasks?: ClaimedTask[] } | null>(
        'POST',
        `/workers/${enc(workerId)}/tasks/${enc(lease.task_id)}/${what}`,
        body,
      );
      return answer ?? {};
    } catch (err) {
      if (err instanceof HttpError && (err.status === 409 || err.status === 404) && FENCING.has(err.code))
        return false;
      throw err;
    }
  }

  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    timeoutMs = CALL_TIMEOUT_MS,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let res: RawResponse;
      try {
        const timeout = AbortSignal.timeout(timeoutMs);
        res = await requestText(`${this.base}${path}`, {
          method,
          headers:
            body === undefined ? this.headers : { ...this.headers, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
      } catch (err) {
        // Connection refused or reset, DNS, timeout: the API may be restarting.
        if (signal?.aborted || attempt >= this.retries) throw err;
        await sleep(this.backoff(attempt), signal);
        continue;
      }
      const text = res.text;
      if (res.status >= 200 && res.status < 300) return (text ? JSON.parse(text) : null) as T;
      if (TRANSIENT_STATUS.has(res.status) && attempt < this.retries && !signal?.aborted) {
        await sleep(this.backoff(attempt), signal);
        continue;
      }
      const e = safeJson(text) as { error?: string; code?: string };
      throw new HttpError(
        res.status,
        e.code ?? `HTTP_${res.status}`,
        e.error ?? `${method} ${path}: HTTP ${res.status}`,
      );
    }
  }

  /** Exponential with full jitter, so workers restarted together do not retry in lockstep. */
  private backoff(attempt: number): number {
    return Math.random() * Math.min(10_000, this.backoffMs * 2 ** (attempt - 1));
  }
}

const enc = encodeURIComponent;

/** The single report endpoint's body (the predecessor's fields). */
function singleBody(workerId: string, r: QueuedReport) {
  return r.outcome === 'complete'
    ? { worker_id: workerId, attempt: r.lease.attempt, result: r.result }
    : { worker_id: workerId, attempt: r.lease.attempt, error_details: r.error, retry: r.retry };
}

function claimedTasks(answer: ClaimAnswer): ClaimedTask[] {
  if (!answer) return [];
  if (Array.isArray(answer.tasks)) return answer.tasks;
  return [answer as ClaimedTask];
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
