/**
 * The CLI's Server-Sent Events reader: GETs a stream through the API client (its base URL and
 * token), parses it with eventsource-parser and yields each event. A dropped connection (the
 * network, a restarting server, a `disconnect` event, nothing heard for too long) is reopened
 * with Last-Event-ID, so the server resumes after the last event seen: nothing is skipped or
 * repeated. Reconnects back off and are bounded; past the bound the reader throws.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ApiError, type Client } from './client.ts';

export interface StreamEvent {
  event: string;
  /** The SSE id (a cursor) when the event carried one. */
  id: string | undefined;
  /** The parsed JSON data (the raw text when it is not JSON). */
  data: unknown;
}

export interface StreamOptions {
  /** Resume after this event id (sent as Last-Event-ID on the first request too). */
  lastEventId?: string;
  /** Reconnects in a row that may fail before the reader gives up. */
  maxRetries?: number;
  /** The first wait before reconnecting; it doubles with each failure in a row. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /**
   * A connection that delivers nothing (not even a keepalive comment) this long is taken for
   * dead and reopened: a half-open TCP connection would otherwise wait forever.
   */
  idleTimeoutMs?: number;
  /** Ends the stream quietly. */
  signal?: AbortSignal;
  onReconnect?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

export class StreamLostError extends Error {
  override name = 'StreamLostError';
}

const DEFAULTS = { maxRetries: 5, backoffMs: 500, maxBackoffMs: 8_000, idleTimeoutMs: 45_000 };

/** What one connection's state tells the reconnect loop. */
interface Link {
  lastEventId: string | undefined;
  /** The server's `retry:` hint, in ms. */
  retryMs: number;
  /** The connection proved healthy (delivered something, or stayed open a whole idle period). */
  healthy: boolean;
}

/** Yields the stream's events until the caller stops reading, the signal aborts, or it is lost. */
export async function* readStream(
  client: Pick<Client, 'open'>,
  path: string,
  options: StreamOptions = {},
): AsyncGenerator<StreamEvent> {
  const o = { ...DEFAULTS, ...options };
  const link: Link = { lastEventId: o.lastEventId, retryMs: 0, healthy: false };
  let failures = 0;
  for (;;) {
    link.healthy = false;
    let reason: string;
    try {
      reason = yield* connection(client, path, link, o);
    } catch (err) {
      if (o.signal?.aborted) return;
      if (!retryable(err)) throw err;
      reason = err instanceof Error ? err.message : String(err);
    }
    if (o.signal?.aborted) return;
    failures = link.healthy ? 1 : failures + 1;
    if (failures > o.maxRetries)
      throw new StreamLostError(
        `Lost the event stream ${path} (${reason}); gave up after ${o.maxRetries} reconnects.`,
      );
    const delayMs = Math.min(o.maxBackoffMs, Math.max(o.backoffMs, link.retryMs) * 2 ** (failures - 1));
    o.onReconnect?.({ attempt: failures, delayMs, reason });
    await pause(delayMs, o.signal);
  }
}

/** One request: yields its events; returns why it ended when the server or the network ended it. */
async function* connection(
  client: Pick<Client, 'open'>,
  path: string,
  link: Link,
  o: typeof DEFAULTS & StreamOptions,
): AsyncGenerator<StreamEvent, string> {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let idle = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      abort.abort();
    }, o.idleTimeoutMs);
  };
  let opened = false;
  const pending: StreamEvent[] = [];
  let disconnect: string | null = null;
  const parser = createParser({
    onEvent(m: EventSourceMessage) {
      link.healthy = true;
      if (m.id !== undefined) link.lastEventId = m.id;
      const data = parseData(m.data);
      // The server's goodbye (shutdown, slow consumer, error): reconnect from the last id.
      if (m.event === 'disconnect') disconnect = describeDisconnect(data);
      else pending.push({ event: m.event ?? 'message', id: m.id, data });
    },
    onComment() {
      link.healthy = true;
    },
    onRetry(ms) {
      link.retryMs = ms;
    },
  });
  try {
    arm();
    const headers: Record<string, string> = link.lastEventId ? { 'last-event-id': link.lastEventId } : {};
    const res = await client.open(path, headers, abort.signal);
    opened = true;
    if (!res.body) return 'the server sent no body';
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      arm();
      parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      while (pending.length > 0) yield pending.shift()!;
    }
    return disconnect ?? 'the server closed the stream';
  } catch (err) {
    if (!idle) throw err;
    if (!opened) return `no answer within ${o.idleTimeoutMs} ms`;
    // Open but quiet for a whole idle period: the connection had been fine until then.
    link.healthy = true;
    return `nothing received for ${o.idleTimeoutMs} ms`;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    // Also when the caller stopped reading: the request must not outlive the reader.
    abort.abort();
  }
}

/** A refusal (404, 422, 401…) will not change on retry; the network and 5xx/429 may. */
function retryable(err: unknown): boolean {
  if (err instanceof ApiError) return err.status >= 500 || err.status === 429;
  return true;
}

function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function describeDisconnect(data: unknown): string {
  const d = (data ?? {}) as { reason?: string; message?: string };
  return `the server disconnected: ${d.reason ?? 'no reason given'}${d.message ? ` (${d.message})` : ''}`;
}

/** Waits `ms`, or less when the signal aborts. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
