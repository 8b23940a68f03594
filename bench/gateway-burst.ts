/**
 * The rollout burst (issue 15): C agents at once, each playing T streamed turns of a growing
 * conversation (prompts from ~2 kB to ~25 kB), against an upstream that streams every answer in
 * 6 chunks 15 ms apart. Three modes in one run, alternated round by round so all see the same
 * machine: straight to the upstream, through a bare node:http relay (the floor: one more HTTP
 * hop), and through the gateway, which checks each token, relays, and records every call.
 *
 * The agents and the upstream are child processes of their own (bench/burst-agents.ts,
 * bench/burst-upstream.ts), so this process's CPU time is the gateway's (or the relay's), plus,
 * on PGlite, the database's. Reported per C: calls/s per mode (median of rounds) and the
 * ratio gateway/direct, the gateway's CPU ms per call and peak RSS, the PostgreSQL backends'
 * CPU ms per call (read from /proc: the server runs on this machine), and the recording lag (answer's end → record committed, p50/p99). After the
 * run every gateway call must be recorded exactly once (T calls per conversation, no in-flight
 * row left); the bench throws if not.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { attemptEndSignals, createApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config/index.ts';
import type { Db } from '../src/db/types.ts';
import { createGateway } from '../src/gateway/gateway.ts';
import { createQueue } from '../src/queue/index.ts';
import { openBenchDb, percentile } from './db.ts';
import { startBareRelay } from './gateway.ts';

const list = (v: string | undefined, d: number[]) => (v ? v.split(',').map(Number) : d);
export const BURST = {
  concurrency: list(process.env.BENCH_BURST_CONCURRENCY, [64, 512]),
  turns: Number(process.env.BENCH_BURST_TURNS ?? 15),
  /** Rounds of the three modes at the first concurrency; later (larger) ones run one round. */
  rounds: Number(process.env.BENCH_BURST_ROUNDS ?? 3),
  promptKb: list(process.env.BENCH_BURST_PROMPT_KB, [2, 25]) as [number, number],
  chunks: Number(process.env.BENCH_BURST_CHUNKS ?? 6),
  chunkMs: Number(process.env.BENCH_BURST_CHUNK_MS ?? 15),
};

type Mode = 'direct' | 'relay' | 'gateway';
const MODES: Mode[] = ['direct', 'relay', 'gateway'];

interface AgentsResult {
  calls: number;
  errors: number;
  first_error: string | null;
  elapsed_ms: number;
  call_p50_ms: number;
  call_p99_ms: number;
}

interface ModeRun extends AgentsResult {
  calls_per_s: number;
  /** This process's CPU (user + system) per call. */
  cpu_ms_per_call: number;
  /** The database server's CPU per call (its backends for this bench's database). */
  db_cpu_ms_per_call: number;
  peak_rss_mb: number;
}

/** A child process answering one JSON line per line sent. */
class LineChild {
  private readonly lines: AsyncIterator<string>;
  private readonly rl: Interface;

  constructor(
    readonly child: ChildProcess,
    name: string,
  ) {
    this.rl = createInterface({ input: child.stdout! });
    this.lines = this.rl[Symbol.asyncIterator]();
    child.once('exit', (code) => {
      if (code) process.stderr.write(`bench: ${name} exited with ${code}\n`);
    });
  }

  static start(script: string, env: Record<string, string> = {}): LineChild {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', path], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    return new LineChild(child, script);
  }

  async next(): Promise<string> {
    const r = await this.lines.next();
    if (r.done) throw new Error('bench child exited');
    return r.value;
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  async stop(): Promise<void> {
    this.rl.close();
    this.child.stdin!.end();
    if (this.child.exitCode === null) await once(this.child, 'exit');
  }
}

/**
 * CPU ms the database's server processes serving this bench's database have used (PostgreSQL
 * on this machine: /proc of each backend; 0 for PGlite, whose work is this process's).
 */
async function databaseCpuMs(db: Db): Promise<number> {
  if (db.kind !== 'postgres') return 0;
  const { rows } = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
  );
  const tick = 1000 / 100; // USER_HZ
  let ms = 0;
  for (const { pid } of rows) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ms += (Number(fields[11]) + Number(fields[12])) * tick;
    } catch {
      // A backend that has gone, or a server on another machine: not counted.
    }
  }
  return ms;
}

/** Runs the agents once against `targets`, measuring this process and the machine meanwhile. */
async function runAgents(
  db: Db,
  agents: LineChild,
  targets: { url: string; headers: Record<string, string> }[],
): Promise<ModeRun> {
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 20);
  const cpu0 = process.cpuUsage();
  const dbCpu0 = await databaseCpuMs(db);
  agents.send(
    JSON.stringify({
      targets,
      turns: BURST.turns,
      systemChars: BURST.promptKb[0] * 1000,
      finalChars: BURST.promptKb[1] * 1000,
    }),
  );
  const result = JSON.parse(await agents.next()) as AgentsResult;
  const cpu = process.cpuUsage(cpu0);
  const dbCpu = (await databaseCpuMs(db)) - dbCpu0;
  clearInterval(sampler);
  const calls = Math.max(1, result.calls);
  return {
    ...result,
    calls_per_s: result.calls / (result.elapsed_ms / 1000),
    cpu_ms_per_call: (cpu.user + cpu.system) / 1000 / calls,
    db_cpu_ms_per_call: dbCpu / calls,
    peak_rss_mb: peakRss / 2 ** 20,
  };
}

/** Waits until every gateway call is recorded, then checks it was recorded exactly once. */
async function checkRecorded(db: Db, taskIds: string[], expected: number, perConversation: number) {
  const count = async () =>
    (
      await db.query<{ calls: number; in_flight: number }>(
        `SELECT (SELECT count(*)::int FROM llm_calls WHERE task_id = ANY($1::uuid[])) AS calls,
                (SELECT count(*)::int FROM llm_calls_in_flight WHERE task_id = ANY($1::uuid[])) AS in_flight`,
        [taskIds],
      )
    ).rows[0]!;
  let seen = await count();
  for (let waited = 0; (seen.calls < expected || seen.in_flight > 0) && waited < 30_000; waited += 100) {
    await new Promise((r) => setTimeout(r, 100));
    seen = await count();
  }
  const { rows: odd } = await db.query<{ id: string; call_count: number; rows: number }>(
    `SELECT c.id, c.call_count, (SELECT count(*)::int FROM llm_calls l WHERE l.conversation_id = c.id) AS rows
     FROM llm_conversations c WHERE c.task_id = ANY($1::uuid[])`,
    [taskIds],
  );
  const wrong = odd.filter((c) => c.call_count !== perConversation || c.rows !== perConversation);
  if (seen.calls !== expected || seen.in_flight !== 0 || wrong.length > 0)
    throw new Error(
      `gateway burst: ${expected} calls made, ${seen.calls} recorded, ${seen.in_flight} still in flight, ` +
        `${wrong.length} conversations without exactly ${perConversation} calls`,
    );
  return { calls_made: expected, calls_recorded: seen.calls, conversations: odd.length };
}

/** One concurrency level: C tasks claimed, then rounds of the three modes. */
async function burstAt(
  db: Db,
  databaseUrl: string,
  upstreamUrl: string,
  agents: LineChild,
  c: number,
  rounds: number,
) {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    OPENAI_API_KEY: 'sk-bench',
    OPENAI_BASE_URL: upstreamUrl,
    DATABASE_URL: databaseUrl,
  });
  const queue = createQueue(db, { leaseSeconds: 3600, notifyDebounceMs: config.NOTIFY_DEBOUNCE_MS });
  await queue.start();
  const lags: number[] = [];
  const quiet = { info() {}, warn() {}, error() {} };
  const gateway = await createGateway({
    db,
    config,
    logger: quiet,
    attemptEnds: attemptEndSignals(queue),
    observe: (o) => {
      if (o.recordLagSeconds !== null) lags.push(o.recordLagSeconds * 1000);
    },
  });
  const app = await createApp({ config, queue, gateway, logger: false });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const relay = await startBareRelay(`${upstreamUrl}/chat/completions`, 1024);
  try {
    const worker = `worker-burst-${c}`;
    await queue.registerWorker({
      id: worker,
      backend_type: 'bench-burst',
      capabilities: { max_parallel_tasks: c, supported_problems: [] },
      metadata: {},
    });
    await queue.submit(
      Array.from({ length: c }, (_, i) => ({
        problem_id: `burst-${c}-${i}`,
        priority: 10,
        backend_type: 'bench-burst',
        parameters: { max_steps: 1, timeout_minutes: 60, agent_config: {} },
        max_attempts: 1,
        idempotency_key: null,
      })),
    );
    const claimed = await app.attempts.claim(worker, c, `${base}/llm/v1`);
    if (claimed.length !== c) throw new Error(`gateway burst: claimed ${claimed.length} of ${c} tasks`);
    type Target = { url: string; headers: Record<string, string> };
    const targetsOf = (mode: Mode, round: number) =>
      claimed.map((t): Target => {
        if (mode === 'direct')
          return { url: `${upstreamUrl}/chat/completions`, headers: { authorization: 'Bearer sk-bench' } };
        if (mode === 'relay') return { url: relay.url, headers: { authorization: 'Bearer sk-bench' } };
        return {
          url: `${base}/llm/v1/chat/completions`,
          headers: { authorization: `Bearer ${t.llm_api_key}`, 'x-conversation-id': `round-${round}` },
        };
      });
    const runs: Record<Mode, ModeRun[]> = { direct: [], relay: [], gateway: [] };
    for (let round = 0; round < rounds; round++)
      for (const mode of MODES) runs[mode].push(await runAgents(db, agents, targetsOf(mode, round)));
    const gatewayCalls = runs.gateway.reduce((n, r) => n + r.calls, 0);
    const recorded = await checkRecorded(
      db,
      claimed.map((t) => t.id),
      gatewayCalls,
      BURST.turns,
    );
    lags.sort((a, b) => a - b);
    const med = (mode: Mode) => {
      const sorted = [...runs[mode]].sort((a, b) => a.calls_per_s - b.calls_per_s);
      return sorted[Math.floor(sorted.length / 2)]!;
    };
    const summary = Object.fromEntries(MODES.map((m) => [m, med(m)])) as Record<Mode, ModeRun>;
    return {
      concurrency: c,
      turns: BURST.turns,
      rounds,
      ...summary,
      errors: MODES.reduce((n, m) => n + runs[m].reduce((k, r) => k + r.errors, 0), 0),
      first_error: MODES.flatMap((m) => runs[m].map((r) => r.first_error)).find((e) => e) ?? null,
      all_calls_per_s: Object.fromEntries(MODES.map((m) => [m, runs[m].map((r) => r.calls_per_s)])),
      ratio_gateway_vs_direct: summary.gateway.calls_per_s / summary.direct.calls_per_s,
      ratio_relay_vs_direct: summary.relay.calls_per_s / summary.direct.calls_per_s,
      record_lag_p50_ms: percentile(lags, 50),
      record_lag_p99_ms: percentile(lags, 99),
      peak_rss_mb: Math.max(...runs.gateway.map((r) => r.peak_rss_mb)),
      ...recorded,
    };
  } finally {
    await relay.close();
    await app.close();
    await gateway.close();
    await queue.stop();
  }
}

export type BurstFigures = Awaited<ReturnType<typeof burstAt>>;

/** On a database of its own, so other benches' history does not weigh on it. */
export async function gatewayBurst(
  databaseUrl: string | undefined,
  poolSize: number,
): Promise<BurstFigures[]> {
  const upstream = LineChild.start('./burst-upstream.ts', {
    BURST_CHUNKS: String(BURST.chunks),
    BURST_CHUNK_MS: String(BURST.chunkMs),
  });
  const agents = LineChild.start('./burst-agents.ts');
  const own = await openBenchDb(databaseUrl, poolSize);
  try {
    const port = (await upstream.next()).split(' ')[1];
    const upstreamUrl = `http://127.0.0.1:${port}/v1`;
    if ((await agents.next()) !== 'READY') throw new Error('gateway burst: agents did not start');
    const out: BurstFigures[] = [];
    for (const [i, c] of BURST.concurrency.entries())
      out.push(await burstAt(own.db, own.url ?? '', upstreamUrl, agents, c, i === 0 ? BURST.rounds : 1));
    return out;
  } finally {
    await agents.stop();
    await upstream.stop();
    await own.drop();
  }
}

/** The burst's lines in the bench's text output. */
export function printBurst(figures: readonly BurstFigures[]): void {
  const f1 = (v: number) => v.toFixed(1);
  for (const f of figures) {
    console.log(
      `gateway rollout burst, ${f.concurrency} agents × ${f.turns} streamed turns (${BURST.promptKb[0]}→${BURST.promptKb[1]} kB prompts, ${BURST.chunks} chunks ${BURST.chunkMs} ms apart), median of ${f.rounds}: ` +
        `direct ${f.direct.calls_per_s.toFixed(0)} calls/s; bare relay ${f.relay.calls_per_s.toFixed(0)} (${f.ratio_relay_vs_direct.toFixed(2)}×); ` +
        `gateway ${f.gateway.calls_per_s.toFixed(0)} (${f.ratio_gateway_vs_direct.toFixed(2)}×)`,
    );
    console.log(
      `  gateway: ${f.calls_recorded}/${f.calls_made} calls recorded exactly once; record lag p50 ${f1(f.record_lag_p50_ms)} ms, p99 ${f1(f.record_lag_p99_ms)} ms; ` +
        `CPU ${f.gateway.cpu_ms_per_call.toFixed(2)} ms/call (relay ${f.relay.cpu_ms_per_call.toFixed(2)}); database CPU ${f.gateway.db_cpu_ms_per_call.toFixed(2)} ms/call; ` +
        `call p50/p99 ${f1(f.gateway.call_p50_ms)}/${f1(f.gateway.call_p99_ms)} ms (direct ${f1(f.direct.call_p50_ms)}/${f1(f.direct.call_p99_ms)}); peak RSS ${f.peak_rss_mb.toFixed(0)} MB; errors ${f.errors}${f.first_error ? ` (${f.first_error})` : ''}`,
    );
  }
}
