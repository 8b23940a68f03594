/**
 * The error catalogue: every error a client can see has a stable SNAKE_CASE code, one HTTP
 * status and a default message. Anything thrown anywhere (queue refusals, driver errors,
 * Fastify's own parser and validation errors) is turned into `{ error, code, details, detail }`
 * here and nowhere else. Clients never get a stack trace; unknown failures are a bare 500.
 * `detail` is what FastAPI clients (the predecessor's) read: the message as a string, or for
 * a validation error FastAPI's list of `{ type, loc, msg }`.
 */
import type { FastifyError } from 'fastify';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { QueueError, type QueueErrorCode } from '../queue/errors.ts';
import { describeValidation, type FastApiIssue, toFastApiIssues } from './validation.ts';

export const ERROR_CATALOGUE = {
  INVALID_JSON: { status: 400, message: 'Request body is not valid JSON' },
  BAD_REQUEST: { status: 400, message: 'Bad request' },
  UNAUTHORIZED: { status: 401, message: 'Missing or unknown bearer token' },
  FORBIDDEN: { status: 403, message: 'This token’s role may not call this route' },
  NOT_FOUND: { status: 404, message: 'Route not found' },
  TASK_NOT_FOUND: { status: 404, message: 'Task not found' },
  EXPERIMENT_NOT_FOUND: { status: 404, message: 'Experiment not found' },
  WORKER_NOT_FOUND: { status: 404, message: 'Worker not found' },
  CONVERSATION_NOT_FOUND: { status: 404, message: 'Conversation not found' },
  TASK_NOT_HELD: { status: 409, message: 'This worker does not hold the task' },
  STALE_ATTEMPT: { status: 409, message: 'The attempt is no longer current' },
  TASK_ALREADY_TERMINAL: { status: 409, message: 'The task has already finished' },
  // 400 as the predecessor answered it: asking to cancel a finished task is a bad request, not a race.
  TASK_NOT_CANCELLABLE: {
    status: 400,
    message: 'The task has already finished; only pending or running tasks can be cancelled',
  },
  TASK_NOT_RUNNING: { status: 409, message: 'The task is not running' },
  WORKER_OFFLINE: { status: 409, message: 'The worker is offline' },
  IDEMPOTENCY_CONFLICT: { status: 409, message: 'The idempotency key was used for another request' },
  CALLBACK_LOOP: {
    status: 409,
    message:
      'Tasks cannot be created from a task callback delivery (the request carries X-Task-Executor-Delivery): a callback_url pointing at this API would submit tasks without end',
  },
  INTERNAL_WORKERS_DISABLED: { status: 409, message: 'Internal workers are disabled on this server' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'Request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported content type; send application/json' },
  VALIDATION_ERROR: { status: 422, message: 'Request failed validation' },
  INVALID_VALUE: { status: 422, message: 'A value was rejected by the database' },
  INTERNAL_ERROR: { status: 500, message: 'Internal server error' },
  DATABASE_UNAVAILABLE: { status: 503, message: 'The database is unreachable; try again later' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CATALOGUE[code].message,
    readonly details: Record<string, unknown> = {},
    status: number = ERROR_CATALOGUE[code].status,
  ) {
    super(message);
    this.status = status;
  }
}

/** A 422 for rules a schema cannot state (cross-field checks, the configured worker id pattern). */
export function invalid(
  field: string,
  reason: string,
  extra: Record<string, unknown> = {},
  location: 'body' | 'query' = 'body',
): ApiError {
  return new ApiError('VALIDATION_ERROR', `Invalid ${field}: ${reason}`, {
    location,
    errors: [{ field, reason, ...extra }],
  });
}

export interface ErrorBody {
  error: string;
  code: ErrorCode;
  details: Record<string, unknown>;
  /** FastAPI's field: the message, or the list of validation issues. */
  detail: string | FastApiIssue[];
}

export const isDbDown = isDatabaseUnavailable;

const QUEUE_CODES: Record<QueueErrorCode, ErrorCode> = {
  TASK_NOT_FOUND: 'TASK_NOT_FOUND',
  EXPERIMENT_NOT_FOUND: 'EXPERIMENT_NOT_FOUND',
  WORKER_NOT_FOUND: 'WORKER_NOT_FOUND',
  TASK_NOT_HELD: 'TASK_NOT_HELD',
  STALE_ATTEMPT: 'STALE_ATTEMPT',
  TASK_ALREADY_TERMINAL: 'TASK_ALREADY_TERMINAL',
  TASK_NOT_RUNNING: 'TASK_NOT_RUNNING',
  WORKER_OFFLINE: 'WORKER_OFFLINE',
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
};

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Turns any thrown value into a catalogued error. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof QueueError) return new ApiError(QUEUE_CODES[err.code], err.message, err.details);
  if (isDbDown(err)) return new ApiError('DATABASE_UNAVAILABLE');
  const e = err as Partial<FastifyError> & { code?: unknown };
  if (e.validation) {
    return new ApiError('VALIDATION_ERROR', undefined, describeValidation(e.validation, e.validationContext));
  }
  const mapped = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) return new ApiError(mapped);
  // SQLSTATE class 22 (data exception): a value PostgreSQL cannot store, e.g. a NUL character
  // in text or JSON. It came from the request, so it is the client's 422, not our 500.
  if (typeof e.code === 'string' && /^22[0-9A-Z]{3}$/.test(e.code)) {
    return new ApiError('INVALID_VALUE', undefined, { reason: e.message });
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Other client errors Fastify raises (bad URL, bad Content-Length…): keep their status.
    return new ApiError('BAD_REQUEST', e.message ?? 'Bad request', {}, e.statusCode);
  }
  return new ApiError('INTERNAL_ERROR');
}

export function errorBody(err: ApiError): ErrorBody {
  const issues = toFastApiIssues(err.details);
  return { error: err.message, code: err.code, details: err.details, detail: issues ?? err.message };
}
