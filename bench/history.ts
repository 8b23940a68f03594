/**
 * History benchmark (issue 9): do the hot paths stay flat as history grows? The same requests,
 * over HTTP, against two in-process API servers with no load (no in-process workers, one
 * registered remote worker that is only measured) on the same PostgreSQL server: one on an
 * empty database, one on a database holding BENCH_HISTORY_TASKS finished tasks and
 * BENCH_HISTORY_LOGS log lines generated in SQL (bench/history-data.ts), then VACUUM ANALYZE.
 *
 * Each figure is the median of 40 requests after 5 warm-up ones. The two servers are measured
 * side by side — each request goes to both, in alternating order, round after round — so load
 * on the machine from anything else weighs on both figures alike and the ratio stays honest.
 * Target: every request within 1.1× its empty-database time; /health and /metrics also under
 * 50 ms with history. PostgreSQL only: on PGlite the part is skipped (see SKIPPED).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { createQueue, type Queue } from '../src/queue/index.ts';
import { requestText } from '../src/worker/http-client.ts';
import { median, openBenchDb } from './db.ts';
import { generateHistory, type HistoryFigures, OTHER_WORKERS } from './history-data.ts';

const TASKS = Number(process.env.BENCH_HISTORY_TASKS ?? 1_000_000);
const LOGS = Number(process.env.BENCH_HISTORY_LOGS ?? 10_000_000);
const SAMPLES = 40;
const WARMUP = 5;
/** Tasks run through both servers before measuring: one full first page of the task list. */
const PAGE_PRIMING = 20;
const GROWTH_TARGET = 1.1;
const ABSOLUTE_TARGET_MS = 50;
const WORKER = 'worker-300-kind';

export const SKIPPED =
  'history benchmark skipped: it needs PostgreSQL (set DATABASE_URL); 10M rows in an in-memory wasm database (PGlite) is not a meaningful measurement';

interface Probe {
  name: string;
  /** An upper bound in ms with history, on top of the growth target. */
  absoluteTargetMs?: number;
  run(): Promise<void>;
}

export interface HistoryRow {
  request: string;
  empty_ms: number;
  history_ms: number;
  growth: number;
  target: string;
  pass: boolean;
}

/** One request; any 4xx/5xx aborts the bench with the body, so a figure never hides an error. */
async function call(base: string, method: string, path: string, body?: unknown): Promise<string> {
  const res = await requestText(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 400) throw new Error(`history bench: ${method} ${path}: HTTP ${res.status} ${res.text}`);
  return res.text;
}

const get = (base: string, path: string): Probe => ({
  name: `\`${path}\``,
  run: async () => {
    await call(base, 'GET', path);
  },
});

/** The requests measured, in the order of the issue's table. */
function probes(base: string): Probe[] {
  const w = `/api/v1/workers/${WORKER}`;
  // As the worker sends them (src/worker/http.ts): a lease list, a claim id per claim.
  const claim = () => call(base, 'POST', `${w}/claim?wait=0&claim_id=${randomUUID()}`);
  return [
    {
      name: 'heartbeat (`POST /workers/{id}/heartbeat`)',
      run: async () => {
        await call(base, 'POST', `${w}/heartbeat`, { status: 'idle', tasks: [] });
      },
    },
    {
      name: 'empty claim (`POST /workers/{id}/claim`)',
      run: async () => {
        const text = await claim();
        if (text !== 'null') throw new Error(`history bench: the empty claim got a task: ${text}`);
      },
    },
    {
      name: 'submit + claim + complete',
      run: async () => {
        const submitted = JSON.parse(
          await call(base, 'POST', '/api/v1/tasks', {
            problem_id: 'history-probe',
            max_steps: 1,
            timeout_minutes: 30,
          }),
        ) as { id: string };
        const claimed = JSON.parse(await claim()) as { id: string; attempt: number } | null;
        if (claimed?.id !== submitted.id)
          throw new Error(`history bench: claimed ${claimed?.id ?? 'nothing'}, submitted ${submitted.id}`);
        await call(base, 'POST', `${w}/tasks/${claimed.id}/complete`, {
          worker_id: WORKER,
          attempt: claimed.attempt,
          result: { ok: true },
        });
      },
    },
    { ...get(base, '/health'), absoluteTargetMs: ABSOLUTE_TARGET_MS },
    get(base, '/queue/stats'),
    { ...get(base, '/metrics'), absoluteTargetMs: ABSOLUTE_TARGET_MS },
    get(base, '/api/v1/tasks/stats'),
    { ...get(base, `${w}/stats`), name: '`/api/v1/workers/{id}/stats`' },
    { ...get(base, '/api/v1/tasks'), name: '`/api/v1/tasks` (first page)' },
    { ...get(base, '/api/v1/tasks?status=completed'), name: '`/api/v1/tasks?status=completed` (first page)' },
  ];
}

/**
 * Median ms per probe on each side, round-robin over WARMUP + SAMPLES rounds; every request
 * goes to both sides, the first side alternating by round.
 */
async function measure(empty: Probe[], full: Probe[]): Promise<[number[], number[]]> {
  const samples = [empty.map((): number[] => []), full.map((): number[] => [])];
  const sides = [empty, full];
  for (let round = 0; round < WARMUP + SAMPLES; round++) {
    for (let i = 0; i < empty.length; i++) {
      for (const side of round % 2 === 0 ? [0, 1] : [1, 0]) {
        const t0 = performance.now();
        await sides[side]![i]!.run();
        if (round >= WARMUP) samples[side]![i]!.push(performance.now() - t0);
      }
    }
    if ((round + 1) % 10 === 0) process.stderr.write(`history: round ${round + 1}/${WARMUP + SAMPLES}\n`);
  }
  return [samples[0]!.map((s) => median(s)), samples[1]!.map((s) => median(s))];
}

function judge(list: Probe[], empty: number[], full: number[]): HistoryRow[] {
  return list.map((p, i) => {
    const before = empty[i]!;
    const after = full[i]!;
    const growth = after / before;
    const limit = p.absoluteTargetMs;
    return {
      request: p.name,
      empty_ms: before,
      history_ms: after,
      growth,
      target: `≤${GROWTH_TARGET}×${limit ? ` and <${limit} ms` : ''}`,
      pass: growth <= GROWTH_TARGET && (limit === undefined || after < limit),
    };
  });
}

function printTable(rows: HistoryRow[], h: HistoryFigures): void {
  const ms = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
  const n = (v: number) => v.toLocaleString('en');
  console.log(
    `history: ${n(h.tasks)} finished tasks (${Object.entries(h.by_status)
      .map(([s, c]) => `${s} ${n(c)}`)
      .join(
        ', ',
      )}; half by the measured worker, the rest by ${OTHER_WORKERS} others) and ${n(h.logs)} log lines`,
  );
  console.log(
    `  generated in ${(h.tasks_seconds + h.logs_seconds).toFixed(1)} s (tasks ${h.tasks_seconds.toFixed(1)} s, logs ${h.logs_seconds.toFixed(1)} s), VACUUM ANALYZE ${h.vacuum_analyze_seconds.toFixed(1)} s; tasks ${n(h.tasks_table_mb)} MB, task_logs ${n(h.task_logs_table_mb)} MB, database ${n(h.database_mb)} MB (with indexes)`,
  );
  console.log(
    `  median of ${SAMPLES} requests after ${WARMUP} warm-up, two servers with no load, measured side by side:\n`,
  );
  console.log(`| request | empty database | with history | growth | target |`);
  console.log('|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.request} | ${ms(r.empty_ms)} | ${ms(r.history_ms)} | ${r.growth.toFixed(2)}× | ${r.target} ${r.pass ? 'PASS' : 'MISS'} |`,
    );
  const missed = rows.filter((r) => !r.pass).length;
  console.log(
    `\n  ${missed === 0 ? 'all requests within target' : `${missed} of ${rows.length} requests MISS`}`,
  );
}

async function withServer<T>(fn: (base: string, queue: Queue) => Promise<T>): Promise<T> {
  // No in-process workers and no background jobs: the only load is the bench's own requests.
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: 'silent',
    NUM_INTERNAL_WORKERS: '0',
    ENABLE_BACKGROUND_TASKS: 'false',
  });
  const bench = await openBenchDb(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const queue = createQueue(bench.db, {
    leaseSeconds: config.LEASE_SECONDS,
    notifyDebounceMs: config.NOTIFY_DEBOUNCE_MS,
  });
  await queue.start();
  let app: FastifyInstance | undefined;
  try {
    app = await createApp({ config, queue, logger: false });
    return await fn(await app.listen({ host: '127.0.0.1', port: 0 }), queue);
  } finally {
    await app?.close();
    await queue.stop();
    await bench.drop();
  }
}

const register = (base: string) =>
  call(base, 'POST', '/api/v1/workers/register', {
    worker_id: WORKER,
    backend_type: 'noop',
    max_parallel_tasks: 1,
  });

export async function historyBench(databaseUrl: string) {
  if (!databaseUrl) {
    console.log(SKIPPED);
    return { skipped: SKIPPED };
  }
  for (const [name, v] of [
    ['BENCH_HISTORY_TASKS', TASKS],
    ['BENCH_HISTORY_LOGS', LOGS],
  ] as const)
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${name} must be a whole number ≥ 0, got ${v}`);
  return withServer((emptyBase, emptyQueue) =>
    withServer(async (fullBase, fullQueue) => {
      await register(emptyBase);
      await register(fullBase);
      const figures = await generateHistory(fullQueue.db, {
        tasks: TASKS,
        logs: LOGS,
        measuredWorker: WORKER,
      });
      // The empty side gets the same VACUUM ANALYZE, so both start from fresh statistics.
      await emptyQueue.db.query('VACUUM ANALYZE');
      const list = probes(emptyBase);
      const fullList = probes(fullBase);
      // A first page of tasks then shows the same 20 newest (probe) tasks on both sides, so the
      // lists compare what history costs, not rows of other sizes.
      const cycle = list.findIndex((p) => p.name === 'submit + claim + complete');
      for (let i = 0; i < PAGE_PRIMING; i++) {
        await list[cycle]!.run();
        await fullList[cycle]!.run();
      }
      const [empty, full] = await measure(list, fullList);
      const rows = judge(list, empty, full);
      printTable(rows, figures);
      return { samples: SAMPLES, warmup: WARMUP, history: figures, requests: rows };
    }),
  );
}
