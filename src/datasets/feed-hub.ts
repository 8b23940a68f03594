/**
 * One reader of feed_events per process, however many clients follow it. While anyone is
 * subscribed, the hub reads the newest final events every `pollMs` into a ring of recent
 * events; live subscribers take their events from the ring, so fifty followers cost one query
 * per poll. A subscriber whose cursor is older than the ring (a resume, or one that fell behind
 * while its socket was full) reads pages from the database until it reaches the ring.
 *
 * Polling, not NOTIFY: a NOTIFY in every completing transaction would serialise commits (see
 * queue/notifier.ts), and the transaction-age rule delays some events anyway.
 */
import type { Queryable } from '../db/types.ts';
import { type Cursor, compareCursors, isAfter } from './cursor.ts';
import { type FeedEvent, feedHead, readFeedPage } from './feed-store.ts';

export interface FeedHubOptions {
  pollMs: number;
  /** Recent events kept for live subscribers. */
  ringSize: number;
  /** Rows per database page. */
  pageSize: number;
  onError?: (err: unknown) => void;
}

export class FeedHub {
  private ring: FeedEvent[] = [];
  /** The ring holds every event in (base, head]. */
  private base: Cursor = { txid: 0n, id: 0n };
  private head: Cursor = { txid: 0n, id: 0n };
  private subscribers = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private resetting: Promise<void> | undefined;
  private waiters = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly db: Queryable,
    private readonly opts: FeedHubOptions,
  ) {}

  /**
   * Registers a subscriber; the first one after an idle spell starts the ring afresh at the
   * database's head (a long-idle hub does not replay what nobody was following).
   */
  async retain(): Promise<() => void> {
    this.subscribers++;
    if (this.subscribers === 1 && !this.timer) {
      this.resetting ??= this.reset().finally(() => {
        this.resetting = undefined;
      });
      this.timer = setInterval(() => void this.poll(), this.opts.pollMs);
      this.timer.unref();
    }
    await this.resetting;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.subscribers--;
      if (this.subscribers === 0) this.idle();
    };
  }

  /** Events after `c` from the ring, or null when the ring no longer reaches back to `c`. */
  since(c: Cursor): FeedEvent[] | null {
    if (isAfter(this.base, c)) return null;
    // Binary search for the first event after c.
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareCursors(this.ring[mid]!.cursor, c) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return this.ring.slice(lo);
  }

  /** The newest position the ring covers (events up to it are known). */
  position(): Cursor {
    return this.head;
  }

  /** The oldest position the ring covers. */
  floor(): Cursor {
    return this.base;
  }

  /** Resolves at the next poll that found events, after `ms`, or when `signal` aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Reads now instead of at the next tick (after a commit this process knows about). */
  poke(): void {
    if (this.subscribers > 0) void this.poll();
  }

  close(): void {
    this.closed = true;
    this.idle();
    for (const w of [...this.waiters]) w();
  }

  private idle(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.ring = [];
  }

  private async reset(): Promise<void> {
    try {
      const head = await feedHead(this.db);
      this.ring = [];
      this.base = head;
      this.head = head;
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private poll(): Promise<void> {
    if (this.closed || this.subscribers === 0) return Promise.resolve();
    this.polling ??= this.readNew()
      .catch((err) => this.opts.onError?.(err))
      .finally(() => {
        this.polling = undefined;
      });
    return this.polling;
  }

  private async readNew(): Promise<void> {
    await this.resetting;
    for (;;) {
      const page = await readFeedPage(this.db, this.head, this.opts.pageSize);
      if (page.length === 0 || this.subscribers === 0) break;
      this.ring.push(...page);
      this.head = page.at(-1)!.cursor;
      this.trim();
      for (const w of [...this.waiters]) w();
      if (page.length < this.opts.pageSize) break;
    }
  }

  private trim(): void {
    const excess = this.ring.length - this.opts.ringSize;
    if (excess <= 0) return;
    this.base = this.ring[excess - 1]!.cursor;
    this.ring.splice(0, excess);
  }
}
