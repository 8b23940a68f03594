/**
 * One client's walk along the feed: from its cursor, through database pages while it is
 * behind the hub's ring, then from the ring as events arrive. Every event is offered to the
 * client's selector exactly once and in cursor order; the position moves past events the
 * selector skips too, so a narrow filter does not rescan them.
 */
import type { Queryable } from '../db/types.ts';
import { type Cursor, isAfter } from './cursor.ts';
import type { FeedHub } from './feed-hub.ts';
import { type FeedEvent, type PageScope, readFeedPage } from './feed-store.ts';

export interface Selected<N extends string> {
  name: N;
  event: FeedEvent;
}

export interface FollowOptions<N extends string> {
  /** 'now': the newest event the hub has read when the subscription starts. */
  from: Cursor | 'now';
  /** The SSE event name for an event this client wants, or null to skip it. */
  select: (e: FeedEvent) => N | null;
  /** Narrows database pages through an index (the selector must agree with it). */
  scope: PageScope;
  signal: AbortSignal;
  pageSize: number;
  /** How long to wait for new events before yielding an empty batch (a chance to heartbeat). */
  idleMs: number;
}

/** Yields batches of selected events (empty when idle) until the signal aborts. */
export async function* followFeed<N extends string>(
  hub: FeedHub,
  db: Queryable,
  o: FollowOptions<N>,
): AsyncGenerator<Selected<N>[]> {
  const release = await hub.retain();
  let at = o.from === 'now' ? hub.position() : o.from;
  try {
    while (!o.signal.aborted) {
      const fromRing = hub.since(at);
      let events: FeedEvent[];
      if (fromRing === null) {
        events = await readFeedPage(db, at, o.pageSize, o.scope);
        // Nothing final after `at` in the database, and the ring starts later: nothing lies
        // between them (everything up to the ring's floor was final when the ring read it).
        if (events.length === 0) {
          const floor = hub.floor();
          if (isAfter(floor, at)) at = floor;
          continue;
        }
      } else if (fromRing.length === 0) {
        await hub.wait(o.idleMs, o.signal);
        if (hub.since(at)?.length === 0) yield [];
        continue;
      } else {
        events = fromRing;
      }
      at = events.at(-1)!.cursor;
      const out: Selected<N>[] = [];
      for (const event of events) {
        const name = o.select(event);
        if (name !== null) out.push({ name, event });
      }
      if (out.length > 0) yield out;
    }
  } finally {
    release();
  }
}
