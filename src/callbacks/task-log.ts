/**
 * The task-log entry of one delivery attempt. The submitter reads it, and the submitter
 * chose the URL, so it says only what they may know: delivered, refused by policy, or failed
 * with the HTTP status when an allowed server answered. Never why a connection failed
 * (refused, timed out, no such host) nor how long it took: that would make callback_url a
 * port scanner of the server's network. The server log keeps the detail.
 */
import type { NewLog } from '../queue/types.ts';
import type { PostOutcome } from './post.ts';

export interface AttemptRecord {
  outcome: PostOutcome;
  attempt: number;
  maxAttempts: number;
  deliveryId: string;
  /** When the next attempt is due; null when there is none. */
  retryAt: Date | null;
  /** The attempt's start: the entry is stamped with it, not with when the attempt ended. */
  startedAt: Date;
  /** The callback URL without credentials or query (redactUrl). */
  target: string;
}

function failureMessage(r: AttemptRecord): string {
  const status = r.outcome.kind === 'rejected' ? ` (HTTP ${r.outcome.status})` : '';
  const next = r.retryAt ? 'will retry' : 'giving up';
  return `Callback to ${r.target}: delivery failed (attempt ${r.attempt}/${r.maxAttempts})${status}; ${next}`;
}

function messageOf(r: AttemptRecord): string {
  switch (r.outcome.kind) {
    case 'delivered':
      return `Callback to ${r.target}: delivered (HTTP ${r.outcome.status})`;
    case 'refused':
      return `Callback to ${r.target}: refused by policy (the address is not allowed; see CALLBACK_ALLOWED_HOSTS); not retried`;
    default:
      return failureMessage(r);
  }
}

function levelOf(r: AttemptRecord): NewLog['level'] {
  if (r.outcome.kind === 'delivered') return 'info';
  return r.retryAt ? 'warning' : 'error';
}

export function attemptLogEntry(r: AttemptRecord): NewLog {
  const status = 'status' in r.outcome ? r.outcome.status : null;
  return {
    level: levelOf(r),
    message: messageOf(r),
    timestamp: r.startedAt.toISOString(),
    source: 'callback',
    context: {
      attempt: r.attempt,
      max_attempts: r.maxAttempts,
      outcome: r.outcome.kind,
      status,
      delivery_id: r.deliveryId,
      retry_at: r.retryAt?.toISOString() ?? null,
    },
  };
}
