/**
 * `npm run bench`: queue throughput and dispatch latency on the configured database
 * (a scratch database on the DATABASE_URL server, else in-memory PGlite).
 *   1. in-process drain: 20k tasks submitted with the batch call, drained by the in-process
 *      worker pool (fenced claim → complete) with a no-op backend;
 *   2. HTTP drain: 20k tasks through the remote worker protocol, 20 workers in another process,
 *      with 1 slot each and with BENCH_HTTP_SLOTS (8) each (claims of many, reports that claim
 *      the next tasks, completions batched across requests);
 *   3. dispatch latency: submit → claimed, for an idle in-process worker and for an idle worker
 *      long-polling over HTTP; then BENCH_IDLE_WORKERS (1000) idle remote workers long-polling
 *      from a child process: the API process's CPU over BENCH_IDLE_SECONDS (20) of idleness,
 *      and submit → claimed by one of them;
 *   3b. peers (PostgreSQL, with BENCH_PEERS_DIR; bench/peers.ts): graphile-worker default and
 *      tuned, pg-boss, on the same tasks count, and graphile-worker's dispatch latency, with
 *      our figures as ratios of theirs;
 *   4. LLM gateway: added latency against calling the upstream directly, and the cost of
 *      appending message N to a conversation (bench/gateway.ts); then the rollout burst (issue
 *      15): C agents × T streamed turns with growing prompts, straight to a paced upstream,
 *      through a bare relay and through the gateway, as calls/s and ratios, with recording lag,
 *      the gateway's CPU per call and peak RSS, every call checked recorded exactly once
 *      (bench/gateway-burst.ts).
 *   5. episodes: sandbox episodes by scripted:solver through queue, workers, agent and the
 *      recording gateway, as episodes/s and steps/s (bench/episodes.ts).
 *   6. history (PostgreSQL only; skipped with a note on PGlite): heartbeat, claims, health,
 *      metrics, stats and task lists over HTTP on an empty database and again after generating
 *      a long-running fleet's history in SQL, with each request's growth against the target
 *      (≤1.1×; /health and /metrics also <50 ms) (bench/history.ts, issue 9).
 *   7. feed (issue 12), on scratch databases of its own: trajectory events/s delivered over
 *      SSE to 1 and to 50 subscribers (HTTP clients in a child process) while tasks finish as
 *      fast as the queue allows; the lag from a task's completion to its trajectory event
 *      (p50/p99) per FEED_POLL_MS, finished on the streaming replica and on another one; and
 *      the feed triggers' cost on submit, claim and complete against a database with them
 *      disabled, as ratios (bench/feed.ts).
 *   8. export (issue 13): writing synthetic trajectories (30 steps, 15 LLM calls, token ids on half)
 *      as JSONL and as Parquet, in MB/s of output and trajectories/s, and each writer's peak RSS,
 *      each run in a child process of its own; then the same dataset seeded into a scratch database
 *      and downloaded in both formats from a `serve` child process, with the server's peak RSS
 *      (bench/export.ts, bench/export-api.ts). BENCH_EXPORT_SECTIONS=writers or api runs one half.
 * BENCH_HTTP_SLOTS (8), BENCH_IDLE_WORKERS (1000), BENCH_IDLE_SECONDS (20), BENCH_PEERS_DIR.
 * BENCH_ONLY=queue, gateway, episodes, history, feed or export runs one part.
 * Sizes: BENCH_TASKS (20000), BENCH_WORKERS (4), BENCH_PARALLEL (64), BENCH_LATENCY_SAMPLES (200),
 * BENCH_GATEWAY_CALLS (400), BENCH_APPEND_SAMPLES (31), BENCH_EPISODES (120),
 * BENCH_EPISODE_ROUNDS (3), BENCH_HISTORY_TASKS (1000000 finished tasks), BENCH_HISTORY_LOGS
 * (10000000 log lines; generation takes minutes at the defaults), BENCH_FEED_TASKS (5000),
 * BENCH_FEED_SUBSCRIBERS (50), BENCH_FEED_LAG_SAMPLES (200), BENCH_FEED_POLL_MS (100,20),
 * BENCH_FEED_ROUNDS (5), BENCH_FEED_SINGLES (500), BENCH_EXPORT_TRAJECTORIES (10000),
 * BENCH_EXPORT_ROUNDS (3), BENCH_EXPORT_SECTIONS (writers,api), BENCH_EXPORT_SCALE (3: one Parquet run
 * that many times larger, for its peak RSS).
 * Rollout burst: BENCH_BURST_CONCURRENCY (64,512: agents at once; the first runs
 * BENCH_BURST_ROUNDS (3) rounds of the three modes, later ones one), BENCH_BURST_TURNS (15),
 * BENCH_BURST_PROMPT_KB (2,25: first and last prompt size), BENCH_BURST_CHUNKS (6) and
 * BENCH_BURST_CHUNK_MS (15): the upstream's stream. BENCH_GATEWAY_SECTIONS=latency or burst runs
 * one half of the gateway part.
 * Prints text, then one JSON line (prefixed "BENCH_JSON ") for tooling.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../src/api/app.ts';
import type { Backend } from '../src/backends/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { createQueue, type NewTask, type Queue } from '../src/queue/index.ts';
import { DirectTransport } from '../src/worker/direct.ts';
import { requestText } from '../src/worker/http-client.ts';
import { WorkerManager } from '../src/worker/manager.ts';
import { Worker } from '../src/worker/worker.ts';
import { median, openBenchDb, percentile } from './db.ts';
import { episodeThroughput } from './episodes.ts';
import { exportBench } from './export.ts';
import { feedBench } from './feed.ts';
import { appendCost, gatewayLatency } from './gateway.ts';
import { gatewayBurst, printBurst } from './gateway-burst.ts';
import { historyBench } from './history.ts';
import { noopBackend, noopTasks } from './noop.ts';
import { type PeerFigures, peerBench, peersDir } from './peers.ts';

const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const IN_PROCESS_WORKERS = Number(process.env.BENCH_WORKERS ?? 4);
const IN_PROCESS_PARALLEL = Number(process.env.BENCH_PARALLEL ?? 64);
const HTTP_WORKERS = 20;
const HTTP_SLOTS = Number(process.env.BENCH_HTTP_SLOTS ?? 8);
const IDLE_WORKERS = Number(process.env.BENCH_IDLE_WORKERS ?? 1000);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);
const ONLY = process.env.BENCH_ONLY ?? '';

const config = loadConfig({
  ...process.env,
  LOG_LEVEL: 'silent',
  NUM_INTERNAL_WORKERS: String(IN_PROCESS_WORKERS),
  INTERNAL_WORKER_MAX_PARALLEL: String(IN_PROCESS_PARALLEL),
});

function untilTerminal(queue: Queue, n: number): Promise<number> {
  return new Promise((resolve) => {
    let seen = 0;
    const on = (ids: string[]) => {
      seen += ids.length;
      if (seen >= n) {
        queue.events.off('terminal', on);
        resolve(performance.now());
      }
    };
    queue.events.on('terminal', on);
  });
}

async function submitHttp(base: string, n: number, prefix: string): Promise<number> {
  const all = noopTasks(n, prefix);
  const t0 = performance.now();
  for (let i = 0; i < all.length; i += 1000) {
    const res = await requestText(`${base}/api/v1/tasks/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tasks: all.slice(i, i + 1000) }),
    });
    if (res.status !== 201) throw new Error(`batch submit: HTTP ${res.status} ${res.text}`);
  }
  return n / ((performance.now() - t0) / 1000);
}

async function inProcessDrain(queue: Queue, base: string) {
  const enqueueRate = await submitHttp(base, TASKS, 'inproc');
  const pool = new WorkerManager({ config, queue, backendFactory: () => noopBackend });
  const done = untilTerminal(queue, TASKS);
  const t0 = performance.now();
  await pool.start();
  const t1 = await done;
  await pool.stop();
  return { enqueue_per_s: enqueueRate, drain_per_s: TASKS / ((t1 - t0) / 1000) };
}

function spawnBenchChild(script: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
}

async function httpDrain(queue: Queue, base: string, slots: number) {
  const child = spawnBenchChild('./http-workers.ts', [base, String(HTTP_WORKERS), String(slots)]);
  await waitForReady(child);
  await submitHttp(base, TASKS, 'http');
  const done = untilTerminal(queue, TASKS);
  // The clock starts with the tasks already queued, as for the in-process figure.
  const t0 = performance.now();
  child.stdin!.write('go\n');
  const t1 = await done;
  child.kill('SIGTERM');
  await once(child, 'exit');
  return { workers: HTTP_WORKERS, slots, drain_per_s: TASKS / ((t1 - t0) / 1000) };
}

async function waitForReady(child: ChildProcess): Promise<void> {
  let out = '';
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    if (out.includes('ready')) return;
  }
  throw new Error('HTTP workers exited before they were ready');
}

const oneTask = (prefix: string): NewTask => ({
  problem_id: `${prefix}-1`,
  priority: 5,
  backend_type: null,
  parameters: { max_steps: 1, timeout_minutes: 30, agent_config: {} },
  max_attempts: 1,
  idempotency_key: null,
});

function latencyFigures(samples: number[]) {
  samples.sort((a, b) => a - b);
  return {
    samples: samples.length,
    p50_ms: percentile(samples, 50),
    p99_ms: percentile(samples, 99),
    median_ms: median(samples),
  };
}

/** submit → claimed, for one idle in-process worker (its backend starts the moment it has the task). */
async function inProcessLatency(queue: Queue) {
  let started: (() => void) | undefined;
  const backend: Backend = {
    type: 'noop',
    run: async () => {
      started?.();
      return { status: 'completed', result: null };
    },
  };
  const worker = new Worker({
    id: 'worker-998-inproc',
    backend,
    transport: new DirectTransport(queue),
    maxParallel: 1,
    pollIntervalMs: 30_000,
    heartbeatIntervalMs: 10_000,
    dataDir: process.env.BENCH_DATA_DIR ?? '/tmp/task-executor-bench',
    logger: { info() {}, warn() {}, error() {} },
  });
  await worker.start();
  const samples: number[] = [];
  try {
    for (let i = 0; i < LATENCY_SAMPLES + 10; i++) {
      await new Promise((r) => setTimeout(r, 15)); // the worker is idle, waiting for a wake-up
      const claimed = new Promise<number>((r) => {
        started = () => r(performance.now());
      });
      const t0 = performance.now();
      await queue.submit([oneTask('latency-inproc')]);
      const t1 = await claimed;
      if (i >= 10) samples.push(t1 - t0);
    }
  } finally {
    await worker.stop(1000);
  }
  return latencyFigures(samples);
}

/**
 * BENCH_IDLE_WORKERS remote workers long-polling from a child process: what their idleness
 * costs the API process (CPU over BENCH_IDLE_SECONDS), then submit → claimed by one of them.
 */
async function idleFleet(queue: Queue, base: string) {
  const child = spawnBenchChild('./idle-pollers.ts', [base, String(IDLE_WORKERS)]);
  try {
    await waitForReady(child);
    await new Promise((r) => setTimeout(r, 2000)); // every first claim parked
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const c1 = process.cpuUsage(c0);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (c1.user + c1.system) / 1e6 / seconds;
    const samples: number[] = [];
    for (let i = 0; i < Math.min(LATENCY_SAMPLES, 100) + 5; i++) {
      const claimed = new Promise<number>((r) => queue.events.once('claimed', () => r(performance.now())));
      const s0 = performance.now();
      await queue.submit([oneTask('latency-idle')]);
      const s1 = await claimed;
      if (i >= 5) samples.push(s1 - s0);
      await new Promise((r) => setTimeout(r, 30));
    }
    return {
      workers: IDLE_WORKERS,
      idle_seconds: seconds,
      api_cpu_share_of_core: cpu,
      latency: latencyFigures(samples),
    };
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

async function dispatchLatency(queue: Queue, base: string) {
  const id = 'worker-999-kind';
  await queue.registerWorker({
    id,
    backend_type: 'noop',
    capabilities: { max_parallel_tasks: 1, supported_problems: [] },
    metadata: {},
  });
  const samples: number[] = [];
  const body = noopTasks(1, 'latency')[0]!;
  for (let i = 0; i < LATENCY_SAMPLES + 10; i++) {
    const claim = requestText(`${base}/api/v1/workers/${id}/claim?wait=30`, { method: 'POST' }).then(
      (r) => JSON.parse(r.text) as { id: string; attempt: number } | null,
    );
    await new Promise((r) => setTimeout(r, 15)); // let the claim park in its long-poll
    const t0 = performance.now();
    await queue.submit([
      {
        problem_id: body.problem_id,
        priority: 5,
        backend_type: null,
        parameters: { max_steps: 1, timeout_minutes: 30, agent_config: {} },
        max_attempts: 1,
        idempotency_key: null,
      },
    ]);
    const task = await claim;
    const t1 = performance.now();
    if (!task) throw new Error('long-poll returned no task');
    if (i >= 10) samples.push(t1 - t0); // the first few warm up connections and plans
    await queue.complete(id, task.id, task.attempt, null);
  }
  return latencyFigures(samples);
}

async function queueBench(queue: Queue, base: string, benchUrl: string | undefined) {
  const inProcess = await inProcessDrain(queue, base);
  console.log(`batch submit (HTTP, 1000/request): ${inProcess.enqueue_per_s.toFixed(0)} tasks/s`);
  console.log(
    `in-process drain (${IN_PROCESS_WORKERS} workers × ${IN_PROCESS_PARALLEL} slots, fenced claim → complete): ${inProcess.drain_per_s.toFixed(0)} tasks/s`,
  );
  const http1 = await httpDrain(queue, base, 1);
  const http = await httpDrain(queue, base, HTTP_SLOTS);
  for (const h of [http1, http])
    console.log(
      `HTTP worker protocol drain (${h.workers} workers × ${h.slots} slots in a separate process): ${h.drain_per_s.toFixed(0)} tasks/s`,
    );
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const inProcLatency = await inProcessLatency(queue);
  console.log(
    `dispatch latency, submit → claimed by an idle in-process worker: p50 ${ms(inProcLatency.p50_ms)}, p99 ${ms(inProcLatency.p99_ms)} (${inProcLatency.samples} samples)`,
  );
  const latency = await dispatchLatency(queue, base);
  console.log(
    `dispatch latency, submit → claimed by an idle long-polling worker: p50 ${ms(latency.p50_ms)}, p99 ${ms(latency.p99_ms)} (${latency.samples} samples)`,
  );
  const idle = await idleFleet(queue, base);
  console.log(
    `${idle.workers} idle remote workers long-polling: API process CPU ${(idle.api_cpu_share_of_core * 100).toFixed(2)}% of a core over ${idle.idle_seconds.toFixed(0)} s; submit → claimed by one of them p50 ${ms(idle.latency.p50_ms)}, p99 ${ms(idle.latency.p99_ms)} (${idle.latency.samples} samples)`,
  );
  const where = peersDir(config.DATABASE_URL ? benchUrl : undefined);
  let peers: PeerFigures | string;
  if ('missing' in where) {
    peers = where.missing;
    console.log(`peers: ${where.missing}`);
  } else {
    peers = await peerBench(where.dir, benchUrl!, TASKS);
    const x = (a: number, b?: number) => (b ? `${(a / b).toFixed(2)}×` : 'n/a');
    console.log(
      `peers, same run: graphile-worker default ${peers.graphile_default_drain_per_s} tasks/s, tuned ${peers.graphile_tuned_drain_per_s} tasks/s; pg-boss (batch 100) ${peers.pgboss_drain_per_s} tasks/s; graphile-worker dispatch latency p50 ${ms(peers.graphile_latency_ms!.p50)}, p99 ${ms(peers.graphile_latency_ms!.p99)}`,
    );
    console.log(
      `  ratios: HTTP drain (${HTTP_SLOTS} slots) ÷ graphile default ${x(http.drain_per_s, peers.graphile_default_drain_per_s)} (1 slot: ${x(http1.drain_per_s, peers.graphile_default_drain_per_s)}); in-process drain ÷ graphile tuned ${x(inProcess.drain_per_s, peers.graphile_tuned_drain_per_s)}; HTTP long-poll latency p50 ÷ graphile p50 ${x(latency.p50_ms, peers.graphile_latency_ms!.p50)}`,
    );
  }
  return {
    in_process: { workers: IN_PROCESS_WORKERS, parallel: IN_PROCESS_PARALLEL, ...inProcess },
    http,
    http_one_slot: http1,
    dispatch_latency: latency,
    dispatch_latency_in_process: inProcLatency,
    idle_fleet: idle,
    peers,
  };
}

async function gatewayBench(db: Parameters<typeof appendCost>[0], queue: Queue) {
  const sections = (process.env.BENCH_GATEWAY_SECTIONS ?? 'latency,burst').split(',');
  const out: Record<string, unknown> = {};
  if (sections.includes('latency')) Object.assign(out, await gatewayLatencyBench(db, queue));
  if (sections.includes('burst')) {
    out.burst = await gatewayBurst(config.DATABASE_URL || undefined, Math.max(config.DATABASE_POOL_SIZE, 20));
    printBurst(out.burst as Awaited<ReturnType<typeof gatewayBurst>>);
  }
  return out;
}

async function gatewayLatencyBench(db: Parameters<typeof appendCost>[0], queue: Queue) {
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const latency = await gatewayLatency(queue, config);
  for (const [label, r] of [
    ['non-streamed response', latency.non_streamed],
    ['streamed, time to first chunk', latency.streamed_ttft],
  ] as const)
    console.log(
      `gateway ${label}: direct p50 ${ms(r.direct.p50_ms)} p99 ${ms(r.direct.p99_ms)}; bare relay p50 ${ms(r.bare_relay.p50_ms)}; via gateway p50 ${ms(r.gateway.p50_ms)} p99 ${ms(r.gateway.p99_ms)}; added p50 ${ms(r.added_p50_ms)} (of which one HTTP hop ${ms(r.hop_floor_p50_ms)}), p99 ${ms(r.added_p99_ms)} (${latency.calls} calls)`,
    );
  const append = await appendCost(db, queue);
  console.log(
    `conversation append, recording message N: ${Object.entries(append.by_n)
      .map(([n, r]) => `${n.replace('n_', 'N=')} ${ms(r.median_ms)} (locked path ${ms(r.locked_median_ms)})`)
      .join(', ')} (1000 vs 10: ${append.ratio_1000_vs_10.toFixed(2)}×)`,
  );
  console.log(
    `in-flight row written before forwarding a call with a prompt of N messages: ${Object.entries(append.by_n)
      .map(([n, r]) => `${n.replace('n_', 'N=')} ${ms(r.in_flight_write_median_ms)}`)
      .join(', ')}`,
  );
  return { latency, append };
}

/** On a database of its own, so the queue benches' 40k finished tasks do not weigh on it. */
async function episodeBench() {
  const own = await openBenchDb(config.DATABASE_URL || undefined, Math.max(config.DATABASE_POOL_SIZE, 20));
  try {
    const figures = await episodeThroughput(own.db);
    for (const f of figures)
      console.log(
        `sandbox episodes, scripted:solver, full pipeline (${f.workers} workers × ${f.parallel} slots): ${f.episodes_per_s.toFixed(1)} episodes/s, ${f.steps_per_s.toFixed(0)} steps/s (${f.mean_steps.toFixed(1)} steps per episode, ${f.episodes} episodes, median of rounds)`,
      );
    const [one, many] = figures;
    if (one && many)
      console.log(
        `  scaling ${many.workers * many.parallel} slots vs 1: ${(many.steps_per_s / one.steps_per_s).toFixed(2)}×`,
      );
    return figures;
  } finally {
    await own.drop();
  }
}

async function main() {
  const bench = await openBenchDb(config.DATABASE_URL || undefined, Math.max(config.DATABASE_POOL_SIZE, 20));
  const queue = createQueue(bench.db, {
    leaseSeconds: config.LEASE_SECONDS,
    notifyDebounceMs: config.NOTIFY_DEBOUNCE_MS,
  });
  await queue.start();
  const app: FastifyInstance = await createApp({ config, queue, logger: false });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`Task Executor benchmark — ${TASKS} tasks — ${bench.label}\nmachine: ${machine}\n`);
  try {
    const json: Record<string, unknown> = { database: bench.label, machine, tasks: TASKS };
    if (!ONLY || ONLY === 'queue') Object.assign(json, await queueBench(queue, base, bench.url));
    if (!ONLY || ONLY === 'gateway') json.gateway = await gatewayBench(bench.db, queue);
    if (!ONLY || ONLY === 'episodes') json.episodes = await episodeBench();
    if (!ONLY || ONLY === 'history') json.history = await historyBench(config.DATABASE_URL);
    if (!ONLY || ONLY === 'feed')
      json.feed = await feedBench(config.DATABASE_URL || undefined, Math.max(config.DATABASE_POOL_SIZE, 20));
    if (!ONLY || ONLY === 'export') json.export = await exportBench(config.DATABASE_URL || undefined);
    console.log(`\nBENCH_JSON ${JSON.stringify(json)}`);
  } finally {
    await app.close();
    await queue.stop();
    await bench.drop();
  }
}

await main();
