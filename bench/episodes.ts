/**
 * Episode throughput: sandbox episodes played by `scripted:solver` through the whole pipeline —
 * the queue, in-process workers, the episode runner, the built-in agent calling the gateway over
 * HTTP, and the gateway recording every call — on the benchmark's database. Run once with one
 * worker and once with several (same process, same database, alternated rounds), so the figure
 * comes with its scaling ratio. Reported as episodes/s and agent steps/s.
 */
import { SANDBOX_PROBLEMS } from '../src/backends/sandbox/index.ts';
import { loadConfig } from '../src/config/index.ts';
import type { Db } from '../src/db/types.ts';
import type { Queue } from '../src/queue/index.ts';
import { startServer } from '../src/server/compose.ts';
import { median } from './db.ts';

const EPISODES = Number(process.env.BENCH_EPISODES ?? 120);
const ROUNDS = Number(process.env.BENCH_EPISODE_ROUNDS ?? 3);
/** [workers, parallel slots each] configurations measured. */
const SHAPES: [number, number][] = [
  [1, 1],
  [4, 2],
];

export interface EpisodeFigures {
  workers: number;
  parallel: number;
  episodes: number;
  episodes_per_s: number;
  steps_per_s: number;
  mean_steps: number;
}

function untilTerminal(queue: Queue, ids: Set<string>): Promise<number> {
  return new Promise((resolve) => {
    let left = ids.size;
    const on = (done: string[]) => {
      for (const id of done) if (ids.has(id)) left--;
      if (left <= 0) {
        queue.events.off('terminal', on);
        resolve(performance.now());
      }
    };
    queue.events.on('terminal', on);
  });
}

async function oneRun(db: Db, workers: number, parallel: number, n: number): Promise<EpisodeFigures> {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    PORT: '0',
    INTERNAL_WORKER_BACKENDS: `sandbox:${workers}`,
    INTERNAL_WORKER_MAX_PARALLEL: String(parallel),
    ENABLE_BACKGROUND_TASKS: 'false',
  });
  const server = await startServer(config, { db });
  try {
    const problems = SANDBOX_PROBLEMS.map((p) => p.id);
    const created = await server.queue.submit(
      Array.from({ length: n }, (_, i) => ({
        problem_id: problems[i % problems.length]!,
        priority: 5,
        backend_type: 'sandbox',
        parameters: { max_steps: 30, timeout_minutes: 30, agent_config: { model: 'scripted:solver' } },
        max_attempts: 1,
        idempotency_key: null,
      })),
    );
    const ids = new Set(created.map((c) => c.task.id));
    const t0 = performance.now();
    const t1 = await untilTerminal(server.queue, ids);
    const seconds = (t1 - t0) / 1000;
    let steps = 0;
    for (const id of ids) {
      const task = await server.queue.getTask(id);
      const result = task?.result as { steps?: number } | null;
      if (task?.status !== 'completed' || typeof result?.steps !== 'number')
        throw new Error(`episode ${id} ended ${task?.status}: ${JSON.stringify(task?.error_details)}`);
      steps += result.steps;
    }
    return {
      workers,
      parallel,
      episodes: n,
      episodes_per_s: n / seconds,
      steps_per_s: steps / seconds,
      mean_steps: steps / n,
    };
  } finally {
    await server.close();
  }
}

/** Median of ROUNDS runs per shape, shapes alternated round by round so they share the noise. */
export async function episodeThroughput(db: Db): Promise<EpisodeFigures[]> {
  await oneRun(db, 1, 1, 10); // warm-up: JIT, prepared statements, the gateway's token key
  const runs = new Map<string, EpisodeFigures[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [w, p] of SHAPES) {
      const key = `${w}x${p}`;
      runs.set(key, [...(runs.get(key) ?? []), await oneRun(db, w, p, EPISODES)]);
    }
  }
  return [...runs.values()].map((list) => ({
    ...list[0]!,
    episodes_per_s: median(list.map((r) => r.episodes_per_s)),
    steps_per_s: median(list.map((r) => r.steps_per_s)),
  }));
}
