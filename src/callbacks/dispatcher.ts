/**
 * Delivers `callback_url` notifications. The terminal transition itself marks the task's
 * callback as due (same statement, see queue/transitions.ts), so nothing is lost if this
 * process dies: any replica's dispatcher picks due callbacks up with SKIP LOCKED. Each
 * attempt and its outcome is written to the task's log; failures retry with exponential
 * backoff up to CALLBACK_MAX_ATTEMPTS.
 */
import type { Config } from '../config/index.ts';
import { type Queue, recordCallbackAttempt, type Task, takeDueCallbacks } from '../queue/index.ts';

type CallbackSettings = Pick<
  Config,
  'CALLBACK_MAX_ATTEMPTS' | 'CALLBACK_TIMEOUT_MS' | 'CALLBACK_BACKOFF_MS' | 'TIMEOUT_CHECK_INTERVAL'
>;

export interface AttemptOutcome {
  delivered: boolean;
  status: number | null;
  error: string | null;
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

export async function postTask(task: Task, url: string, timeoutMs: number): Promise<AttemptOutcome> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'task-executor-callback' },
      body: JSON.stringify(task),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    await res.body?.cancel().catch(() => {});
    return { delivered: res.ok, status: res.status, error: res.ok ? null : `HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { delivered: false, status: null, error: e.cause?.code ?? e.name ?? 'error' };
  }
}

export class CallbackDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private offTerminal: (() => void) | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly settings: CallbackSettings,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

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

  private async deliver(task: Task): Promise<void> {
    const url = task.parameters.callback_url;
    if (!url) return;
    const attempt = task.callback_attempts + 1;
    const out = await postTask(task, url, this.settings.CALLBACK_TIMEOUT_MS);
    const last = attempt >= this.settings.CALLBACK_MAX_ATTEMPTS;
    const retryAt =
      out.delivered || last
        ? null
        : new Date(Date.now() + this.settings.CALLBACK_BACKOFF_MS * 2 ** (attempt - 1));
    const verdict = out.delivered
      ? 'delivered'
      : retryAt
        ? `failed, retry at ${retryAt.toISOString()}`
        : 'failed, giving up';
    await this.queue.appendSystemLog(task.id, [
      {
        level: out.delivered ? 'info' : last ? 'error' : 'warning',
        message: `Callback attempt ${attempt}/${this.settings.CALLBACK_MAX_ATTEMPTS} to ${redactUrl(url)}: ${out.error ?? `HTTP ${out.status}`} (${verdict})`,
        context: { attempt, status: out.status, error: out.error, delivered: out.delivered },
        source: 'callback',
      },
    ]);
    await recordCallbackAttempt(this.queue.db, task.id, out.delivered, retryAt);
  }
}
