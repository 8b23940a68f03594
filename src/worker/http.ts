/**
 * Remote transport: the worker protocol over the REST API. Transient trouble (connection
 * refused, 502/503/504) is retried with backoff, because a worker should ride out an API
 * restart; a 409 is the queue saying "not yours any more" and is never retried.
 */

import { randomUUID } from 'node:crypto';
import type { Json, Lease, NewLog, Task, WorkerStatus } from '../queue/types.ts';
import { type RawResponse, requestText } from './http-client.ts';
import { type HeartbeatReply, HttpError, type Registration, type WorkerTransport } from './transport.ts';

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

export class HttpTransport implements WorkerTransport {
  private readonly base: string;
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

  /** One task per call (the seed's claim contract); the server long-polls for up to waitMs. */
  async claim(workerId: string, _max: number, waitMs: number, signal: AbortSignal): Promise<Task[]> {
    const wait = Math.min(60, Math.floor(waitMs / 1000));
    const task = await this.call<Task | null>(
      'POST',
      // One id per claim, reused by call()'s retries: a retry after a lost response gets the
      // same task back instead of leaving it leased to nobody.
      `/workers/${enc(workerId)}/claim?wait=${wait}&claim_id=${randomUUID()}`,
      undefined,
      signal,
      CALL_TIMEOUT_MS + wait * 1000,
    );
    return task ? [task] : [];
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
    return this.report(workerId, lease, 'logs', { attempt: lease.attempt, logs });
  }

  complete(workerId: string, lease: Lease, result: Json) {
    return this.report(workerId, lease, 'complete', { worker_id: workerId, attempt: lease.attempt, result });
  }

  fail(workerId: string, lease: Lease, error: Json, retry: boolean) {
    return this.report(workerId, lease, 'fail', {
      worker_id: workerId,
      attempt: lease.attempt,
      error_details: error,
      retry,
    });
  }

  release(workerId: string, lease: Lease) {
    return this.report(workerId, lease, 'release', { worker_id: workerId, attempt: lease.attempt });
  }

  private async report(workerId: string, lease: Lease, what: string, body: unknown): Promise<boolean> {
    try {
      await this.call('POST', `/workers/${enc(workerId)}/tasks/${enc(lease.task_id)}/${what}`, body);
      return true;
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
