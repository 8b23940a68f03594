/** Maps database rows to the API's shapes (ISO timestamps, derived fields). */
import { decodeText, fromStoredJson } from '../db/text-codec.ts';
import { defaultReward } from './rewards.ts';
import type { Json, Task, TaskLog, TaskParameters, Worker, WorkerStatus } from './types.ts';

export type Row = Record<string, unknown>;

export const iso = (v: unknown): string | null =>
  v == null ? null : v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();

/**
 * error_details as text, the predecessor's type (its clients print and search it): the
 * message of the structured record, else its reason, else the record as JSON.
 */
export function errorText(info: Json | null): string | null {
  if (info === null) return null;
  if (typeof info === 'string') return info;
  if (typeof info === 'object' && !Array.isArray(info)) {
    if (typeof info.message === 'string' && info.message !== '') return info.message;
    if (typeof info.error === 'string' && info.error !== '') return info.error;
    if (typeof info.reason === 'string' && info.reason !== '') return info.reason;
  }
  return JSON.stringify(info);
}

export function toTask(r: Row): Task {
  const task = toTaskFields(r);
  return { ...task, ...defaultReward(task) };
}

function toTaskFields(r: Row): Omit<Task, 'reward' | 'reward_reason'> {
  const parameters = fromStoredJson((r.parameters ?? {}) as TaskParameters);
  const errorInfo = fromStoredJson((r.error_details as Json) ?? null);
  return {
    id: r.id as string,
    problem_id: r.problem_id as string,
    status: r.status as Task['status'],
    priority: Number(r.priority),
    backend_type: (r.backend_type as string | null) ?? null,
    parameters,
    labels: parameters.labels ?? {},
    worker_id: (r.worker_id as string | null) ?? null,
    attempt: Number(r.attempt),
    max_attempts: Number(r.max_attempts),
    lease_expires_at: iso(r.lease_expires_at),
    deadline_at: iso(r.deadline_at),
    cancel_requested: r.cancel_requested_at != null,
    cancel_requested_at: iso(r.cancel_requested_at),
    result: fromStoredJson((r.result as Json) ?? null),
    error_details: errorText(errorInfo),
    error_info: errorInfo,
    idempotency_key: (r.idempotency_key as string | null) ?? null,
    experiment_id: (r.experiment_id as string | null) ?? null,
    group_id: (r.group_id as string | null) ?? null,
    repetition: r.repetition == null ? null : Number(r.repetition),
    policy_version: r.policy_version == null ? null : Number(r.policy_version),
    callback_state: (r.callback_state as Task['callback_state']) ?? null,
    callback_attempts: Number(r.callback_attempts ?? 0),
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
    started_at: iso(r.started_at),
    completed_at: iso(r.completed_at),
  };
}

/**
 * A log entry's id as a UUID (the predecessor's type) that carries the integer cursor:
 * 00000000-0000-4000-8000-<12 hex digits of seq>. Reversible, so either form works as a cursor.
 */
export const logUuid = (seq: number): string =>
  `00000000-0000-4000-8000-${seq.toString(16).padStart(12, '0')}`;

const LOG_UUID = /^00000000-0000-4000-8000-([0-9a-f]{12})$/i;

/** The cursor inside a log UUID, or null when it is not one. */
export function logIdToSeq(id: string): number | null {
  const m = LOG_UUID.exec(id);
  return m ? Number.parseInt(m[1]!, 16) : null;
}

export function toLog(r: Row): TaskLog {
  const seq = Number(r.id);
  return {
    id: logUuid(seq),
    seq,
    task_id: r.task_id as string,
    timestamp: iso(r.timestamp)!,
    level: r.level as TaskLog['level'],
    message: decodeText(r.message as string),
    // {} rather than null for no context: the predecessor's entries always carried an object.
    context: fromStoredJson((r.context as Json) ?? {}),
    source: decodeText(r.source as string),
    attempt: r.attempt == null ? null : Number(r.attempt),
  };
}

/** Worker rows come with running/completed/failed counts joined in (see workers.ts). */
export function toWorker(r: Row): Worker {
  const running = Number(r.running_tasks ?? 0);
  const stored = r.status as WorkerStatus;
  return {
    id: r.id as string,
    worker_id: r.id as string,
    backend_type: r.backend_type as string,
    status: stored === 'idle' && running > 0 ? 'busy' : stored,
    capabilities: (r.capabilities ?? {}) as Worker['capabilities'],
    metadata: (r.metadata ?? {}) as Worker['metadata'],
    last_heartbeat: iso(r.last_heartbeat)!,
    registered_at: iso(r.registered_at)!,
    current_task_id: (r.current_task_id as string | null) ?? null,
    running_tasks: running,
    tasks_completed: Number(r.tasks_completed ?? 0),
    tasks_failed: Number(r.tasks_failed ?? 0),
  };
}
