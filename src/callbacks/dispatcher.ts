/**
 * Delivers `callback_url` notifications. The terminal transition itself marks the task's
 * callback as due (same statement, see queue/transitions.ts), so nothing is lost if this
 * process dies: any replica's dispatcher picks due callbacks up with SKIP LOCKED. Each
 * attempt is signed (signature.ts), connects only where the address policy allows
 * (address-policy.ts, checked at connect time) and is written to the task's log without
 * network detail (task-log.ts); failures retry with exponential backoff up to
 * CALLBACK_MAX_ATTEMPTS, a refusal by policy never (it cannot succeed).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.ts';
import { type Queue, recordCallbackAttempt, type Task, takeDueCallbacks } from '../queue/index.ts';
import { type AddressPolicy, createAddressPolicy } from './address-policy.ts';
import type { Resolver } from './guarded-lookup.ts';
import { type PostOutcome, postJson } from './post.ts';
import { deliveryHeaders } from './signature.ts';
import { checkSigningKey, loadSigningKey } from './signing-key.ts';
import { attemptLogEntry } from './task-log.ts';

type CallbackSettings = Pick<
  Config,
  | 'CALLBACK_MAX_ATTEMPTS'
  | 'CALLBACK_TIMEOUT_MS'
  | 'CALLBACK_BACKOFF_MS'
  | 'CALLBACK_ALLOWED_HOSTS'
  | 'CALLBACK_SIGNING_SECRET'
  | 'TIMEOUT_CHECK_INTERVAL'
>;

/** Where failed deliveries are told in full (pino's shape); the task log gets the safe summary. */
export interface DeliveryLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

export interface DispatcherOptions {
  log?: DeliveryLogger;
  /** Name resolution (tests give a fake one); the system resolver by default. */
  resolve?: Resolver;
}

/** Logs show where a callback went without its query string, which may carry a token. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    u.username = '';
    u.password = '';
    return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid url)';
  }
}

/** When the next attempt is due, from the attempt's start; null: none (delivered, refused, last). */
export function nextAttemptAt(
  outcome: PostOutcome,
  attempt: number,
  startedAt: Date,
  settings: Pick<CallbackSettings, 'CALLBACK_MAX_ATTEMPTS' | 'CALLBACK_BACKOFF_MS'>,
): Date | null {
  if (outcome.kind === 'delivered' || outcome.kind === 'refused') return null;
  if (attempt >= settings.CALLBACK_MAX_ATTEMPTS) return null;
  return new Date(startedAt.getTime() + settings.CALLBACK_BACKOFF_MS * 2 ** (attempt - 1));
}

export class CallbackDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private offTerminal: (() => void) | undefined;
  private signingKey: Promise<string> | undefined;
  private readonly policy: AddressPolicy;
  private readonly stopping = new AbortController();

  constructor(
    private readonly queue: Queue,
    private readonly settings: CallbackSettings,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly options: DispatcherOptions = {},
  ) {
    checkSigningKey(settings.CALLBACK_SIGNING_SECRET);
    this.policy = createAddressPolicy(settings.CALLBACK_ALLOWED_HOSTS);
  }

  start(): void {
    this.stopped = false;
    const kick = () => this.kick();
    this.queue.events.on('terminal', kick);
    this.offTerminal = () => this.queue.events.off('terminal', kick);
    this.timer = setInterval(kick, Math.min(1000, this.settings.TIMEOUT_CHECK_INTERVAL * 1000));
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.offTerminal?.();
    this.stopping.abort();
    await this.running;
  }

  /** Runs a delivery pass now, or right after the current one. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Delivers every callback that is due now. */
  async drain(): Promise<void> {
    const leaseSeconds = Math.ceil(this.settings.CALLBACK_TIMEOUT_MS / 1000) + 30;
    for (;;) {
      const due = await takeDueCallbacks(this.queue.db, 20, leaseSeconds);
      if (due.length === 0) return;
      await Promise.all(due.map((t) => this.deliver(t)));
      if (this.stopped) return;
    }
  }

  /** Loaded once; a failed load (database down) is tried again on the next delivery. */
  private key(): Promise<string> {
    this.signingKey ??= loadSigningKey(this.queue.db, this.settings.CALLBACK_SIGNING_SECRET).catch((err) => {
      this.signingKey = undefined;
      throw err;
    });
    return this.signingKey;
  }

  private async deliver(task: Task): Promise<void> {
    const url = task.parameters.callback_url;
    if (!url) return;
    const attempt = task.callback_attempts + 1;
    const startedAt = new Date();
    // One id per attempt (the receiver deduplicates on the task id; see the README).
    const deliveryId = randomUUID();
    const outcome = await this.send(task, url, deliveryId, startedAt);
    if ('detail' in outcome)
      this.options.log?.warn(
        { task_id: task.id, delivery_id: deliveryId, attempt, outcome: outcome.kind, detail: outcome.detail },
        'callback not delivered',
      );
    const retryAt = nextAttemptAt(outcome, attempt, startedAt, this.settings);
    const entry = attemptLogEntry({
      outcome,
      attempt,
      maxAttempts: this.settings.CALLBACK_MAX_ATTEMPTS,
      deliveryId,
      retryAt,
      startedAt,
      target: redactUrl(url),
    });
    await this.queue.appendSystemLog(task.id, [entry]);
    await recordCallbackAttempt(this.queue.db, task.id, outcome.kind === 'delivered', retryAt);
  }

  /** One signed POST of the task; a network failure takes the full timeout (padToTimeout). */
  private async send(task: Task, url: string, deliveryId: string, startedAt: Date): Promise<PostOutcome> {
    const body = JSON.stringify(task);
    const headers = deliveryHeaders(await this.key(), deliveryId, body, startedAt.getTime());
    const outcome = await postJson(url, body, headers, {
      policy: this.policy,
      timeoutMs: this.settings.CALLBACK_TIMEOUT_MS,
      resolve: this.options.resolve,
    });
    if (outcome.kind === 'unreachable') await this.padToTimeout(startedAt);
    return outcome;
  }

  /**
   * A failed connection is recorded only when the full timeout has passed, so the moment the
   * attempt is recorded (visible in callback_attempts) does not tell a closed port, which
   * fails at once, from a filtered one or a dead host, which time out.
   */
  private async padToTimeout(startedAt: Date): Promise<void> {
    const left = startedAt.getTime() + this.settings.CALLBACK_TIMEOUT_MS - Date.now();
    if (left > 0) await sleep(left, undefined, { signal: this.stopping.signal }).catch(() => {});
  }
}
