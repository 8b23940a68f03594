/**
 * A Server-Sent Events client for tests: fetch plus eventsource-parser, collecting every event
 * with its id, and waits bounded in time (a test never hangs on a stream that went quiet).
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseEvent {
  id: string | undefined;
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests walk arbitrary event JSON.
  data: any;
}

export interface SseClient {
  status: number;
  events: SseEvent[];
  comments: string[];
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  /** Waits until `pred` holds over the events so far (or throws after `ms`). */
  until(pred: (events: SseEvent[]) => boolean, ms?: number): Promise<SseEvent[]>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const parser = createParser({
    onEvent(m: EventSourceMessage) {
      events.push({ id: m.id, event: m.event ?? 'message', data: JSON.parse(m.data) });
      notify();
    },
    onComment(c) {
      comments.push(c.trim());
    },
  });
  let done = false;
  const ended = (async () => {
    if (!res.body || res.status !== 200) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch {
      // aborted by close(), or the server reset the connection
    }
  })().finally(() => {
    done = true;
    notify();
  });
  return {
    status: res.status,
    events,
    comments,
    ended,
    until(pred, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pred(events)) {
            finish();
            resolve(events);
          } else if (done) {
            finish();
            reject(new Error(`stream ended after ${events.length} events without the expected ones`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out after ${ms} ms with ${events.length} events`));
        }, ms);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close() {
      abort.abort();
    },
  };
}
