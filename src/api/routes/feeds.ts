/**
 * Server-Sent Events (issue 12): /api/v1/trajectories/stream for trainers, /api/v1/events for
 * task status changes, /api/v1/tasks/{id}/logs/stream for one task's log tail. Every event's
 * SSE id is a database cursor, so Last-Event-ID (or ?after=) resumes exactly where a client
 * left off, on this replica or another, before or after a restart.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { type Cursor, formatCursor, parseCursor, START } from '../../datasets/cursor.ts';
import {
  type FeedFilter,
  type StatusEventName,
  statusSelector,
  type TrajectoryEventName,
  trajectorySelector,
} from '../../datasets/feed-filter.ts';
import { followFeed, type Selected } from '../../datasets/feed-subscription.ts';
import { type LogLevel, TERMINAL_STATUSES } from '../../queue/types.ts';
import { invalid } from '../errors.ts';
import type { ConversationForm } from '../feed-payloads.ts';
import type { FeedStreamName } from '../metrics.ts';
import { errors, IdParams } from '../schemas/common.ts';
import { EventStreamQuery, LogStreamQuery, TrajectoryStreamQuery } from '../schemas/feeds.ts';
import { SseStream } from '../sse.ts';
import type { RouteDeps, RouteOptions } from '../types.ts';
import { parseLabelFilter } from './tasks.ts';

const tags = ['feeds'];
const PAGE = 500;
/** Payloads built concurrently ahead of the one being sent. */
const BUILD_AHEAD = 8;
const SSE = {
  200: {
    description: 'A stream of Server-Sent Events (text/event-stream).',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  },
};

interface FilterQuery {
  after?: string;
  experiment_id?: string;
  group_id?: string;
  task_id?: string;
  problem_id?: string;
  backend_type?: string;
  worker_id?: string;
  model?: string;
  label?: string[];
  status?: string;
  policy_version_min?: number;
  policy_version_max?: number;
}

function toFilter(q: FilterQuery): FeedFilter {
  const labels = parseLabelFilter(q.label);
  return {
    experiment_id: q.experiment_id,
    group_id: q.group_id,
    task_id: q.task_id,
    problem_id: q.problem_id,
    backend_type: q.backend_type,
    worker_id: q.worker_id,
    model: q.model,
    labels: labels && Object.keys(labels).length > 0 ? labels : undefined,
    statuses: q.status ? new Set(q.status.split(',')) : undefined,
    policy_version_min: q.policy_version_min,
    policy_version_max: q.policy_version_max,
  };
}

/**
 * Where a stream starts: Last-Event-ID, else ?after=, else the start of the feed for a stream
 * scoped to an experiment, group or task (nothing of it is missed between submit and follow),
 * else now.
 */
function startOf(req: FastifyRequest, after: string | undefined, scoped: boolean): Cursor | 'now' {
  const header = req.headers['last-event-id'];
  const given = typeof header === 'string' && header.trim() !== '' ? header : after;
  if (given === undefined) return scoped ? START : 'now';
  if (given === 'now') return 'now';
  const c = parseCursor(given);
  if (!c)
    throw invalid(
      'after',
      'is not a cursor this server wrote (<txid>-<id>, 0 or now)',
      { value: given },
      'query',
    );
  return c;
}

function sseOptions(deps: RouteDeps, stream: FeedStreamName) {
  const c = deps.config;
  deps.metrics.feedOpened(stream);
  return {
    observe: {
      sent: () => deps.metrics.feedSent(stream, 1),
      closed: (reason: string) => deps.metrics.feedClosed(stream, reason),
    },
    heartbeatMs: c.FEED_HEARTBEAT_SECONDS * 1000,
    slowClientMs: c.FEED_SLOW_CLIENT_SECONDS * 1000,
    maxBufferBytes: c.FEED_BUFFER_BYTES,
    closing: deps.closing,
  };
}

/** Sends each selected event with its cursor as the SSE id, until the client or server goes. */
async function pump<N extends string>(
  req: FastifyRequest,
  stream: SseStream,
  events: AsyncGenerator<Selected<N>[]>,
  payload: (s: Selected<N>) => unknown,
): Promise<void> {
  try {
    for await (const batch of events) {
      // Payloads are built a window ahead (each is a few queries), and sent in order.
      const built = new Map<number, Promise<unknown>>();
      for (let i = 0; i < batch.length; i++) {
        for (let j = i; j < Math.min(batch.length, i + BUILD_AHEAD); j++) {
          if (built.has(j)) continue;
          const p = Promise.resolve(payload(batch[j]!));
          // Awaited in its turn; until then a failure must not count as unhandled.
          p.catch(() => {});
          built.set(j, p);
        }
        const data = await built.get(i)!;
        built.delete(i);
        if (!(await stream.send(batch[i]!.name, data, batch[i]!.event.cursorText))) return;
      }
    }
  } catch (err) {
    req.log.warn({ err }, 'event stream failed');
    await stream.end('error', { message: 'the server could not read the feed; resume from cursor' });
  }
}

export const feedRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { queue, feed, payloads } = deps;

  app.get(
    '/trajectories/stream',
    {
      schema: {
        tags,
        summary: 'Follow finished trajectories, completed GRPO groups and new rewards (Server-Sent Events)',
        description:
          'Events: `trajectory` (a finished task with its result, rewards and conversations), `group.completed` (once per group, when all its repetitions are terminal) and `reward.updated`. Each event’s SSE id is a cursor; reconnect with Last-Event-ID or ?after= to resume with nothing lost or repeated. A `disconnect` event says why the server ended a stream and where to resume.',
        querystring: TrajectoryStreamQuery,
        response: { ...SSE, ...errors(422, 503) },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const scoped = Boolean(q.experiment_id || q.group_id || q.task_id);
      const from = startOf(req, q.after, scoped);
      const names = new Set(
        (q.types ?? 'trajectory,group.completed,reward.updated').split(','),
      ) as Set<TrajectoryEventName>;
      const form = (q.conversation ?? 'messages') as ConversationForm;
      const stream = new SseStream(req, reply, sseOptions(deps, 'trajectories'));
      const follow = followFeed(feed, queue.db, {
        from,
        select: trajectorySelector(toFilter(q), names),
        scope: { experimentId: q.experiment_id, groupId: q.group_id, taskId: q.task_id },
        signal: stream.signal,
        pageSize: PAGE,
        idleMs: deps.config.FEED_HEARTBEAT_SECONDS * 1000,
      });
      await pump(req, stream, follow, (s) => {
        if (s.name === 'trajectory') return payloads.trajectory(s.event, form);
        if (s.name === 'group.completed') return payloads.groupCompleted(s.event);
        return payloads.rewardUpdated(s.event);
      });
    },
  );

  app.get(
    '/events',
    {
      schema: {
        tags,
        summary: 'Follow task status changes (Server-Sent Events)',
        description:
          'One `task.status` event per transition (created, claimed, requeued, finished), and on request (`types`) `group.completed` and `reward.updated`. Resumable like the trajectory stream; starts at `now` unless scoped to an experiment, group or task.',
        querystring: EventStreamQuery,
        response: { ...SSE, ...errors(422, 503) },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const scoped = Boolean(q.experiment_id || q.group_id || q.task_id);
      const from = startOf(req, q.after, scoped);
      const names = new Set((q.types ?? 'task.status').split(',')) as Set<StatusEventName>;
      const stream = new SseStream(req, reply, sseOptions(deps, 'events'));
      const follow = followFeed(feed, queue.db, {
        from,
        select: statusSelector(toFilter(q), names),
        scope: { experimentId: q.experiment_id, groupId: q.group_id, taskId: q.task_id },
        signal: stream.signal,
        pageSize: PAGE,
        idleMs: deps.config.FEED_HEARTBEAT_SECONDS * 1000,
      });
      await pump(req, stream, follow, (s) => {
        if (s.name === 'task.status') return payloads.taskStatus(s.event);
        if (s.name === 'group.completed') return payloads.groupCompleted(s.event);
        return payloads.rewardUpdated(s.event);
      });
    },
  );

  app.get(
    '/tasks/:id/logs/stream',
    {
      schema: {
        tags,
        summary: 'Tail one task’s logs live (Server-Sent Events)',
        description:
          'One `log` event per entry, in order, from the first (or after the cursor); an `end` event with the task’s status once it has finished and every entry was sent.',
        params: IdParams,
        querystring: LogStreamQuery,
        response: { ...SSE, ...errors(404, 422, 503) },
      },
    },
    async (req, reply) => {
      await queue.mustGetTask(req.params.id);
      const start = startOf(req, req.query.after, true);
      let at = start === 'now' ? START : start;
      const levels = req.query.level?.split(',') as LogLevel[] | undefined;
      const stream = new SseStream(req, reply, sseOptions(deps, 'logs'));
      const pollMs = deps.config.FEED_POLL_MS;
      try {
        let finished: string | null = null;
        // The transaction ids that had started when the task was seen ended (the finish's among them).
        let endedBelow = 0n;
        let settled = false;
        while (!stream.closed) {
          const rows = await queue.readLogTail(req.params.id, at, PAGE, levels);
          for (const { txid, ...log } of rows) {
            at = { txid: BigInt(txid), id: BigInt(log.seq) };
            if (!(await stream.send('log', log, formatCursor(at)))) return;
          }
          if (rows.length === PAGE) continue;
          if (settled) {
            await stream.send('end', { task_id: req.params.id, status: finished });
            await stream.end('end');
            return;
          }
          if (finished === null) {
            const task = await queue.getTask(req.params.id);
            if (!task || TERMINAL_STATUSES.includes(task.status)) {
              finished = task?.status ?? 'deleted';
              endedBelow = (await queue.transactionHorizon()).xmax;
            }
          }
          // Terminal: the finish's entries are final only once every transaction that had
          // started by then has ended (a read skips rows newer than the oldest running one);
          // then one more read collects them, and the end follows.
          if (finished !== null && (await queue.transactionHorizon()).xmin >= endedBelow) {
            settled = true;
            continue;
          }
          await sleep(pollMs, stream.signal);
        }
      } catch (err) {
        req.log.warn({ err }, 'log stream failed');
        await stream.end('error', { message: 'the server could not read the logs; resume from cursor' });
      }
    },
  );
};

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
