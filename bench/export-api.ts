/**
 * The export through the real endpoint (issue 13): the generated dataset seeded into a database
 * (bench/export-db.ts), the real server started on it as a child process (`task-executor serve`
 * as `npm start` runs it, compiled to dist/; no in-process workers), and GET /api/v1/export downloaded in each format by a client process
 * of its own (bench/export-fetch.ts) that drops the bytes. On PostgreSQL when the bench has a
 * DATABASE_URL (a scratch database, dropped afterwards), else on PGlite in a data folder.
 *
 * Each format gets a fresh server, so its peak RSS (VmHWM in /proc/<pid>/status, the kernel's
 * high-water mark of resident memory since the process started) is that format's alone; its
 * RSS once listening, before any request, is reported beside it as the floor the export adds to.
 * Figures are medians of the rounds; peaks are the maxima. MB = 10^6 bytes of response body.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { migrate, openDb } from '../src/db/index.ts';
import type { Db } from '../src/db/types.ts';
import { median, openBenchDb } from './db.ts';
import { type SeedFigures, seedExportDataset } from './export-db.ts';

/** What `npm start` runs: the CLI compiled to dist/ (built first if src changed), no TypeScript loader. */
const START = fileURLToPath(new URL('../scripts/start.mjs', import.meta.url));
const FETCH = fileURLToPath(new URL('./export-fetch.ts', import.meta.url));
/** The endpoint's formats measured, with the throughput target for each. */
const FORMATS = [
  { format: 'trajectories', target_mb_s: 100 },
  { format: 'parquet', target_mb_s: 30 },
] as const;
const TARGET_RSS_MB = 256;
const START_MS = 120_000;
/** NODE_OPTIONS for the server alone (e.g. --max-old-space-size=64, to tell live memory from GC slack). */
const SERVER_NODE_OPTIONS = process.env.BENCH_EXPORT_SERVER_NODE_OPTIONS;

export interface ApiExportFigures {
  format: string;
  trajectories: number;
  rounds: number;
  seconds: number;
  output_mb: number;
  mb_per_s: number;
  trajectories_per_s: number;
  first_byte_ms: number;
  server_idle_rss_mb: number;
  server_peak_rss_mb: number;
  client_peak_rss_mb: number;
}

export interface ApiExportBench {
  database: string;
  seed: SeedFigures;
  formats: ApiExportFigures[];
}

interface SeededDatabase {
  label: string;
  /** DATABASE_URL and DATA_DIR for the server. */
  env: Record<string, string>;
  seed: SeedFigures;
  close(): Promise<void>;
}

/**
 * Fresh statistics, as autovacuum would have them a minute after a real bulk of finishes: the
 * export's plans should be the ones a live database gets, not those of an unanalysed one.
 */
async function seedAndAnalyze(db: Db, trajectories: number): Promise<SeedFigures> {
  const seed = await seedExportDataset(db, trajectories);
  await db.exec('ANALYZE');
  return seed;
}

export async function seededDatabase(
  databaseUrl: string | undefined,
  trajectories: number,
): Promise<SeededDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'te-export-api-bench-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  if (databaseUrl) {
    const bench = await openBenchDb(databaseUrl, 4);
    try {
      const seed = await seedAndAnalyze(bench.db, trajectories);
      return {
        label: bench.label,
        env: { DATABASE_URL: bench.url!, DATA_DIR: dataDir },
        seed,
        async close() {
          await bench.drop();
          removeDir();
        },
      };
    } catch (err) {
      await bench.drop().catch(() => {});
      removeDir();
      throw err;
    }
  }
  // PGlite serves one process: seeded here, closed, then opened by the server.
  const db = await openDb({ DATABASE_URL: '', DATA_DIR: dataDir, DATABASE_POOL_SIZE: 1 });
  try {
    await migrate(db);
    const seed = await seedAndAnalyze(db, trajectories);
    return {
      label: 'PGlite (data folder)',
      env: { DATABASE_URL: '', DATA_DIR: dataDir },
      seed,
      close: async () => removeDir(),
    };
  } catch (err) {
    removeDir();
    throw err;
  } finally {
    await db.close();
  }
}

/** A field of /proc/<pid>/status in bytes (VmRSS: now; VmHWM: the peak so far). */
export function procMemory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  const kb = Number(line?.split(/\s+/)[1]);
  if (!Number.isFinite(kb)) throw new Error(`no ${field} in /proc/${pid}/status`);
  return kb * 1024;
}

interface Server {
  pid: number;
  base: string;
  stop(): Promise<void>;
}

/** `task-executor serve` as `npm start` runs it, on a free port; resolves with its URL from the "listening" log line. */
export async function startServer(env: Record<string, string>): Promise<Server> {
  const child: ChildProcess = spawn(process.execPath, [START, 'serve'], {
    env: {
      ...process.env,
      ...(SERVER_NODE_OPTIONS ? { NODE_OPTIONS: SERVER_NODE_OPTIONS } : {}),
      PORT: '0',
      NUM_INTERNAL_WORKERS: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  // The log keeps being read (and dropped) after the line we wait for, so the pipe never fills.
  const lines = createInterface({ input: child.stdout! });
  const listening = new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.includes('Task Executor listening')) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the server did not listen in time')), START_MS);
  });
  try {
    return { pid: child.pid!, base: await Promise.race([listening, late]), stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

interface Download {
  bytes: number;
  seconds: number;
  first_byte_ms: number;
  total: number;
  peak_rss: number;
}

const run = promisify(execFile);

async function download(url: string): Promise<Download> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', FETCH, url], { maxBuffer: 2 ** 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Download;
}

async function measureFormat(
  env: Record<string, string>,
  format: string,
  trajectories: number,
  rounds: number,
): Promise<ApiExportFigures> {
  const server = await startServer(env);
  try {
    const idle = procMemory(server.pid, 'VmRSS');
    const runs: Download[] = [];
    for (let i = 0; i < rounds; i++) {
      const d = await download(`${server.base}/api/v1/export?format=${format}`);
      if (d.total !== trajectories)
        throw new Error(`export ${format}: the server counted ${d.total} tasks, ${trajectories} were seeded`);
      runs.push(d);
    }
    const seconds = median(runs.map((r) => r.seconds));
    const bytes = median(runs.map((r) => r.bytes));
    const mb = 2 ** 20;
    return {
      format,
      trajectories,
      rounds,
      seconds,
      output_mb: bytes / 1e6,
      mb_per_s: bytes / 1e6 / seconds,
      trajectories_per_s: trajectories / seconds,
      first_byte_ms: median(runs.map((r) => r.first_byte_ms)),
      server_idle_rss_mb: idle / mb,
      server_peak_rss_mb: procMemory(server.pid, 'VmHWM') / mb,
      client_peak_rss_mb: Math.max(...runs.map((r) => r.peak_rss)) / mb,
    };
  } finally {
    await server.stop();
  }
}

function print(f: ApiExportFigures, target: number): void {
  const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED');
  console.log(
    `export through the API, ${f.format}: ${f.mb_per_s.toFixed(1)} MB/s (target ${target}: ${ok(f.mb_per_s >= target)}), ` +
      `${f.trajectories_per_s.toFixed(0)} trajectories/s, ${f.output_mb.toFixed(0)} MB for ${f.trajectories} trajectories, ` +
      `first byte ${f.first_byte_ms.toFixed(0)} ms; server peak RSS ${f.server_peak_rss_mb.toFixed(0)} MB ` +
      `(target < ${TARGET_RSS_MB}: ${ok(f.server_peak_rss_mb < TARGET_RSS_MB)}; ${f.server_idle_rss_mb.toFixed(0)} MB idle), ` +
      `client peak RSS ${f.client_peak_rss_mb.toFixed(0)} MB, median of ${f.rounds}`,
  );
}

/** Seeds, measures every format on a server of its own, and drops the data. */
export async function apiExportBench(
  databaseUrl: string | undefined,
  trajectories: number,
  rounds: number,
): Promise<ApiExportBench> {
  const db = await seededDatabase(databaseUrl, trajectories);
  try {
    console.log(
      `export through the API on ${db.label}: seeded ${trajectories} trajectories in ${db.seed.seconds.toFixed(1)} s ` +
        `(${(trajectories / db.seed.seconds).toFixed(0)}/s; database ${db.seed.database_mb.toFixed(0)} MB)`,
    );
    const formats: ApiExportFigures[] = [];
    for (const { format, target_mb_s } of FORMATS) {
      const f = await measureFormat(db.env, format, trajectories, rounds);
      print(f, target_mb_s);
      formats.push(f);
    }
    return { database: db.label, seed: db.seed, formats };
  } finally {
    await db.close();
  }
}
