/**
 * A cheap Server-Sent Events subscriber for the feed bench: node:http and eventsource-parser,
 * counting `trajectory` events and noting when the last one arrived. Fifty of these share the
 * bench's process with the server, so an event's JSON is parsed only for a subscriber that
 * asked to see it (the lag probe); the others only count.
 */
import http from 'node:http';
import { createParser } from 'eventsource-parser';

export interface Subscriber {
  /** `trajectory` events received so far. */
  readonly count: number;
  /** performance.now() at the last one. */
  readonly lastAt: number;
  /** Resolves once `n` have arrived; rejects after `ms`, or if the stream ends first. */
  reach(n: number, ms: number): Promise<void>;
  close(): void;
}

export type OnTrajectory = (data: { task: { id: string } }, at: number) => void;

/** Opens the stream; resolves once the server answered 200 (rejects on anything else). */
export function subscribe(url: string, onTrajectory?: OnTrajectory): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    let count = 0;
    let lastAt = 0;
    let ended: string | null = null;
    const waiters = new Set<() => void>();
    const notify = () => {
      for (const w of [...waiters]) w();
    };
    const parser = createParser({
      onEvent(m) {
        if (m.event === 'trajectory') {
          count++;
          lastAt = performance.now();
          onTrajectory?.(JSON.parse(m.data), lastAt);
          notify();
        } else if (m.event === 'disconnect') {
          // The server gave up on this client (slow consumer, shutdown): its count is short.
          ended = `the server ended the stream: ${m.data}`;
          notify();
        }
      },
    });
    const req = http.get(url, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`feed bench: GET ${url}: HTTP ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.feed(chunk));
      res.on('close', () => {
        ended ??= 'the stream closed';
        notify();
      });
      resolve({
        get count() {
          return count;
        },
        get lastAt() {
          return lastAt;
        },
        reach: (n, ms) => reach(n, ms),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);

    function reach(n: number, ms: number): Promise<void> {
      return new Promise((ok, fail) => {
        const timer = setTimeout(
          () => done(new Error(`feed bench: ${count} of ${n} events after ${ms} ms`)),
          ms,
        );
        const check = () => {
          if (count >= n) done();
          else if (ended) done(new Error(`feed bench: ${count} of ${n} events, then ${ended}`));
        };
        const done = (err?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) fail(err);
          else ok();
        };
        waiters.add(check);
        check();
      });
    }
  });
}
