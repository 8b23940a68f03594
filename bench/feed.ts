/**
 * The live trajectory feed (issue 12), on a scratch database of its own, through an API server
 * listening on 127.0.0.1 and real HTTP SSE clients (bench/feed-client.ts):
 *   - throughput: BENCH_FEED_TASKS tasks finished as fast as the queue allows (claim +
 *     completeMany, 256 per statement) while 1, then BENCH_FEED_SUBSCRIBERS clients follow
 *     /api/v1/trajectories/stream; events/s = trajectory events delivered to all clients ÷ the
 *     time from the first finish to the last client's last event. The clients run in a child
 *     process (bench/feed-subscribers.ts), as trainers would, not in the server's event loop;
 *   - lag: BENCH_FEED_LAG_SAMPLES tasks completed one at a time, a few ms apart, with one
 *     client (in the child process too); lag = the event's arrival − the return of the complete
 *     call, both in wall-clock ms (performance.timeOrigin + now(), which the processes share).
 *     Once completed through the server's own queue (its finishes poke the feed at once) and
 *     once through a second queue on the same database that the server does not hear (a finish
 *     on another replica, found by the next poll), per FEED_POLL_MS in BENCH_FEED_POLL_MS.
 *     An event is final only once every transaction older than it has ended on the whole
 *     PostgreSQL server (migration 0011), so other sessions' open transactions, in any
 *     database of the server, lengthen the tail;
 *   - the feed triggers' cost on the queue's hot path (bench/feed-cost.ts).
 * Every stream filters on its own run's label and starts at the feed's head, so each run counts
 * exactly its own tasks. The tasks carry no LLM conversations: the figures are the feed's
 * machinery (poll, ring, payload build, SSE), not the bulk of long transcripts.
 */
import { cpus, loadavg } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { formatCursor } from '../src/datasets/cursor.ts';
import { feedHead } from '../src/datasets/feed-store.ts';
import type { Db } from '../src/db/types.ts';
import { createQueue, type Queue } from '../src/queue/index.ts';
import { openBenchDb, percentile } from './db.ts';
import { feedTriggerCost, type TriggerCost } from './feed-cost.ts';
import { subscriberProcess, wallNow } from './feed-spawn.ts';
import { claimAll, FEED_WORKER, finishAll, registerFeedWorker, submitTasks } from './feed-tasks.ts';

const TASKS = Number(process.env.BENCH_FEED_TASKS ?? 5000);
const SUBSCRIBERS = Number(process.env.BENCH_FEED_SUBSCRIBERS ?? 50);
const LAG_SAMPLES = Number(process.env.BENCH_FEED_LAG_SAMPLES ?? 200);
const LAG_GAP_MS = 5;
const LAG_WARMUP = 10;
const POLLS = (process.env.BENCH_FEED_POLL_MS ?? '100,20').split(',').map(Number);

export interface ThroughputFigures {
  subscribers: number;
  conversation: string;
  tasks: number;
  events_delivered: number;
  events_per_s: number;
  per_subscriber_events_per_s: number;
  /** How fast the tasks were finished meanwhile (the feed's input rate). */
  finish_per_s: number;
  /** From the last finish to the last client's last event. */
  tail_ms: number;
}

/** A throughput run that could not deliver every event (the server disconnected a client). */
export interface ThroughputFailure {
  subscribers: number;
  conversation: string;
  tasks: number;
  error: string;
}

export interface LagFigures {
  feed_poll_ms: number;
  /** same_replica: finished through the server's queue; other_replica: found by the poll. */
  finished_on: 'same_replica' | 'other_replica';
  samples: number;
  p50_ms: number;
  p99_ms: number;
  /** Below zero only if the two processes' clocks disagree: a check on the figures. */
  min_ms: number;
  max_ms: number;
}

export interface FeedFigures {
  load_average_at_start: number;
  throughput: (ThroughputFigures | ThroughputFailure)[];
  lag: LagFigures[];
  trigger_cost: TriggerCost;
}

/** An API server on 127.0.0.1 over `db`, with its own queue, and a second queue it never hears. */
interface Rig {
  db: Db;
  queue: Queue;
  other: Queue;
  base: string;
  pollMs: number;
  close(): Promise<void>;
}

async function openRig(db: Db, pollMs: number): Promise<Rig> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent', FEED_POLL_MS: String(pollMs) });
  const opts = { leaseSeconds: 600, notifyDebounceMs: config.NOTIFY_DEBOUNCE_MS };
  const queue = createQueue(db, opts);
  await queue.start();
  const app: FastifyInstance = await createApp({ config, queue, logger: false });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    db,
    queue,
    other: createQueue(db, opts),
    base,
    pollMs,
    async close() {
      await app.close();
      await queue.stop();
    },
  };
}

let runs = 0;

/** A run label, and the stream URL that follows that run's trajectories from the feed's head. */
function streamFor(rig: Rig, form: string): { run: string; url: string } {
  const run = `feed-${++runs}`;
  return {
    run,
    url: `${rig.base}/api/v1/trajectories/stream?label=bench_run=${run}&types=trajectory&conversation=${form}`,
  };
}

async function throughput(
  rig: Rig,
  subscribers: number,
  form: string,
  n: number,
): Promise<ThroughputFigures> {
  const { run, url } = streamFor(rig, form);
  await submitTasks(rig.queue, n, run);
  // Explicitly from the head after the submit: no client can miss a finish however late it attaches.
  const after = formatCursor(await feedHead(rig.db));
  const deadlineMs = 60_000 + subscribers * n;
  const clients = await subscriberProcess(`${url}&after=${after}`, subscribers, n, deadlineMs);
  try {
    const t0 = wallNow();
    await finishAll(rig.queue, n);
    const finished = wallNow();
    const last = await clients.done;
    const seconds = (last - t0) / 1000;
    return {
      subscribers,
      conversation: form,
      tasks: n,
      events_delivered: subscribers * n,
      events_per_s: (subscribers * n) / seconds,
      per_subscriber_events_per_s: n / seconds,
      finish_per_s: n / ((finished - t0) / 1000),
      tail_ms: last - finished,
    };
  } finally {
    await clients.stop();
  }
}

async function lag(rig: Rig, finishedOn: LagFigures['finished_on']): Promise<LagFigures> {
  const n = LAG_SAMPLES + LAG_WARMUP;
  const { run, url } = streamFor(rig, 'compact');
  await submitTasks(rig.queue, n, run);
  const tasks = await claimAll(rig.queue, n);
  const after = formatCursor(await feedHead(rig.db));
  const client = await subscriberProcess(`${url}&after=${after}`, 1, n, 60_000, 'arrivals');
  const returned = new Map<string, number>();
  const completer = finishedOn === 'same_replica' ? rig.queue : rig.other;
  try {
    for (const t of tasks) {
      await new Promise((r) => setTimeout(r, LAG_GAP_MS));
      await completer.complete(FEED_WORKER, t.id, t.attempt, { ok: true });
      returned.set(t.id, wallNow());
    }
    await client.done;
  } finally {
    await client.stop();
  }
  // The first few warm up the payload queries and the client's connection.
  const lags = tasks
    .slice(LAG_WARMUP)
    .map((t) => client.arrivals.get(t.id)! - returned.get(t.id)!)
    .sort((a, b) => a - b);
  return {
    feed_poll_ms: rig.pollMs,
    finished_on: finishedOn,
    samples: lags.length,
    p50_ms: percentile(lags, 50),
    p99_ms: percentile(lags, 99),
    min_ms: lags[0]!,
    max_ms: lags.at(-1)!,
  };
}

/** One throughput run, printed; a failure is reported as such and the bench goes on. */
async function measuredOrFailed(
  rig: Rig,
  subscribers: number,
  form: string,
): Promise<ThroughputFigures | ThroughputFailure> {
  try {
    const f = await throughput(rig, subscribers, form, TASKS);
    printThroughput(f);
    return f;
  } catch (err) {
    const error = (err as Error).message;
    console.log(
      `feed throughput, ${who(subscribers)}, conversation=${form}: FAILED, not every event was delivered: ${error}`,
    );
    return { subscribers, conversation: form, tasks: TASKS, error };
  }
}

const who = (subscribers: number) => (subscribers === 1 ? '1 subscriber' : `${subscribers} subscribers`);

function printThroughput(f: ThroughputFigures): void {
  console.log(
    `feed throughput, ${who(f.subscribers)}, conversation=${f.conversation}: ${f.events_per_s.toFixed(0)} trajectory events/s delivered${f.subscribers > 1 ? ` in all (${f.per_subscriber_events_per_s.toFixed(0)}/s to each)` : ''}; ${f.tasks} tasks finished meanwhile at ${f.finish_per_s.toFixed(0)}/s, last event ${f.tail_ms.toFixed(0)} ms after the last finish`,
  );
}

function printLag(f: LagFigures): void {
  const where =
    f.finished_on === 'same_replica' ? 'finished on the streaming replica' : 'finished on another replica';
  console.log(
    `feed lag, complete returned → trajectory event received (FEED_POLL_MS=${f.feed_poll_ms}, ${where}): p50 ${f.p50_ms.toFixed(1)} ms, p99 ${f.p99_ms.toFixed(1)} ms, max ${f.max_ms.toFixed(1)} ms (${f.samples} samples)`,
  );
}

function printCost(c: TriggerCost): void {
  const r = c.ratio;
  const x = (v: number) => `${v.toFixed(2)}×`;
  console.log(
    `feed triggers on the hot path (on ÷ disabled, median of ${c.rounds} rounds of ${c.tasks} tasks): submit ${x(r.submit_ms)}, claim ${x(r.claim_ms)}, completeMany (256/statement) ${x(r.complete_many_ms)} (${c.on.complete_many_ms.toFixed(0)} vs ${c.off.complete_many_ms.toFixed(0)} ms), single complete ${x(r.single_complete_ms)} (${c.singles} one per statement: ${((c.on.single_complete_ms / c.singles) * 1000).toFixed(0)} vs ${((c.off.single_complete_ms / c.singles) * 1000).toFixed(0)} µs each)`,
  );
}

/** Throughput runs, then lag runs per FEED_POLL_MS, on one scratch database. */
async function streamFigures(databaseUrl: string | undefined, poolSize: number) {
  const own = await openBenchDb(databaseUrl, poolSize);
  const throughputs: FeedFigures['throughput'] = [];
  const lags: LagFigures[] = [];
  try {
    const rig = await openRig(own.db, loadConfig({ ...process.env }).FEED_POLL_MS);
    try {
      await registerFeedWorker(rig.queue);
      await throughput(rig, 1, 'compact', 200); // warm-up: JIT, plans, the payload queries
      for (const [subs, form] of [
        [1, 'compact'],
        [1, 'messages'],
        [SUBSCRIBERS, 'compact'],
      ] as const) {
        throughputs.push(await measuredOrFailed(rig, subs, form));
      }
    } finally {
      await rig.close();
    }
    for (const pollMs of POLLS) {
      const lagRig = await openRig(own.db, pollMs);
      try {
        for (const where of ['same_replica', 'other_replica'] as const) {
          lags.push(await lag(lagRig, where));
          printLag(lags.at(-1)!);
        }
      } finally {
        await lagRig.close();
      }
    }
  } finally {
    await own.drop();
  }
  return { throughputs, lags };
}

export async function feedBench(databaseUrl: string | undefined, poolSize: number): Promise<FeedFigures> {
  // On a shared machine the other work weighs on every figure: say how much there was.
  const load = loadavg()[0]!;
  console.log(`feed bench: 1-minute load average ${load.toFixed(2)} on ${cpus().length} CPUs at start`);
  const { throughputs, lags } = await streamFigures(databaseUrl, poolSize);
  const cost = await feedTriggerCost(databaseUrl, poolSize, TASKS);
  printCost(cost);
  return { load_average_at_start: load, throughput: throughputs, lag: lags, trigger_cost: cost };
}
