/**
 * What the feed's triggers cost the queue's hot path. They run on every task insert and status
 * change whether or not anyone follows a stream, so the comparison is not "with and without
 * subscribers" but two scratch databases on the same server, one as migrated and one with
 * tasks_feed_insert and tasks_feed_update disabled, driven by this process in the same run.
 * The two are interleaved statement by statement (who goes first alternates), so a machine
 * shared with other work weighs on both alike; per-side sums make a round. Each round: submit
 * (1000 per statement), claim and completeMany (256 per statement, the completion batcher's
 * size) of BENCH_FEED_TASKS tasks, and BENCH_FEED_SINGLES completions one per statement (as
 * HTTP workers report). Reported as medians over BENCH_FEED_ROUNDS rounds and the median of
 * each round's on ÷ off ratio.
 */
import type { Db } from '../src/db/types.ts';
import { createQueue, type Queue, type Task } from '../src/queue/index.ts';
import { type BenchDb, median, openBenchDb } from './db.ts';
import { BATCH, FEED_WORKER, newTasks, registerFeedWorker, SUBMIT_BATCH } from './feed-tasks.ts';

const ROUNDS = Number(process.env.BENCH_FEED_ROUNDS ?? 5);
const SINGLES = Number(process.env.BENCH_FEED_SINGLES ?? 500);
const WARMUP_TASKS = 500;
const FEED_TRIGGERS = ['tasks_feed_insert', 'tasks_feed_update'];

interface StepTimes {
  submit_ms: number;
  claim_ms: number;
  complete_many_ms: number;
  single_complete_ms: number;
}
type Step = keyof StepTimes;
const STEPS: Step[] = ['submit_ms', 'claim_ms', 'complete_many_ms', 'single_complete_ms'];

export interface TriggerCost {
  tasks: number;
  singles: number;
  rounds: number;
  on: StepTimes;
  off: StepTimes;
  /** on ÷ off for each step: 1.00 means the triggers cost nothing measurable. */
  ratio: StepTimes;
}

interface Side {
  bench: BenchDb;
  queue: Queue;
}

async function openSide(databaseUrl: string | undefined, poolSize: number, triggers: boolean): Promise<Side> {
  const bench = await openBenchDb(databaseUrl, poolSize);
  if (!triggers) await disableFeedTriggers(bench.db);
  const queue = createQueue(bench.db, { leaseSeconds: 600, notifyDebounceMs: 2 });
  await registerFeedWorker(queue);
  return { bench, queue };
}

async function disableFeedTriggers(db: Db): Promise<void> {
  for (const t of FEED_TRIGGERS) await db.query(`ALTER TABLE tasks DISABLE TRIGGER ${t}`);
}

const zero = (): StepTimes => ({ submit_ms: 0, claim_ms: 0, complete_many_ms: 0, single_complete_ms: 0 });

/** One round over both sides; returns [on, off] times. */
async function round(sides: [Side, Side], tasks: number, singles: number, run: string): Promise<StepTimes[]> {
  const times = [zero(), zero()];
  let turn = 0;
  /** One statement on each side, in alternating order, each timed on its own. */
  const both = async (step: Step, fn: (side: Side, k: number) => Promise<unknown>) => {
    for (const k of turn++ % 2 === 0 ? [0, 1] : [1, 0]) {
      const t0 = performance.now();
      await fn(sides[k]!, k);
      times[k]![step] += performance.now() - t0;
    }
  };
  const total = tasks + singles;
  for (let i = 0; i < total; i += SUBMIT_BATCH) {
    const batch = newTasks(Math.min(SUBMIT_BATCH, total - i), run, i);
    await both('submit_ms', (s) => s.queue.submit(batch));
  }
  const held: Task[][] = [[], []];
  for (let i = 0; i < total; i += BATCH)
    await both('claim_ms', async (s, k) => held[k]!.push(...(await s.queue.claim(FEED_WORKER, BATCH))));
  if (held.some((h) => h.length !== total))
    throw new Error(`feed bench: claimed ${held[0]!.length}/${held[1]!.length} of ${total}`);
  const completion = (t: Task) => ({
    task_id: t.id,
    worker_id: FEED_WORKER,
    attempt: t.attempt,
    result: { ok: true },
  });
  for (let i = 0; i < tasks; i += BATCH)
    await both('complete_many_ms', async (s, k) => {
      const batch = held[k]!.slice(i, Math.min(i + BATCH, tasks));
      const ok = await s.queue.completeMany(batch.map(completion));
      if (ok.size !== batch.length)
        throw new Error(`feed bench: ${batch.length - ok.size} completions refused`);
    });
  for (let i = tasks; i < total; i++)
    await both('single_complete_ms', (s, k) =>
      s.queue.complete(FEED_WORKER, held[k]![i]!.id, held[k]![i]!.attempt, { ok: true }),
    );
  return times;
}

function summarise(runs: StepTimes[][], tasks: number): TriggerCost {
  const on = zero();
  const off = zero();
  const ratio = zero();
  for (const step of STEPS) {
    on[step] = median(runs.map((r) => r[0]![step]));
    off[step] = median(runs.map((r) => r[1]![step]));
    ratio[step] = median(runs.map((r) => r[0]![step] / r[1]![step]));
  }
  return { tasks, singles: SINGLES, rounds: runs.length, on, off, ratio };
}

export async function feedTriggerCost(
  databaseUrl: string | undefined,
  poolSize: number,
  tasks: number,
): Promise<TriggerCost> {
  const on = await openSide(databaseUrl, poolSize, true);
  try {
    const off = await openSide(databaseUrl, poolSize, false);
    try {
      // Warm-up: JIT, prepared plans, the first pages of each table.
      await round([on, off], WARMUP_TASKS, 20, 'cost-warmup');
      const runs: StepTimes[][] = [];
      for (let r = 0; r < ROUNDS; r++) runs.push(await round([on, off], tasks, SINGLES, `cost-${r}`));
      return summarise(runs, tasks);
    } finally {
      await off.bench.drop();
    }
  } finally {
    await on.bench.drop();
  }
}
