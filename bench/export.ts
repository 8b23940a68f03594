/**
 * The export writers' throughput (issue 13): BENCH_EXPORT_TRAJECTORIES synthetic trajectories
 * (bench/export-data.ts: 30 steps, a 15-call conversation, token ids on every other one),
 * generated on the fly and written to a file in /tmp as JSONL (the `trajectories` format) and
 * as Parquet. Each run is a child process (bench/export-run.ts) so its peak RSS is the export's
 * own; a `generate` run measures the generator alone, the share of the others' time that is
 * not the writer's. Figures are medians of BENCH_EXPORT_ROUNDS runs; MB = 10^6 bytes of output.
 * Targets: JSONL >= 100 MB/s, Parquet >= 30 MB/s, peak RSS < 256 MB.
 *
 * Then the same dataset through the real endpoint (bench/export-api.ts): seeded into the bench's
 * database (PostgreSQL with DATABASE_URL, else PGlite), served by `task-executor serve` in a
 * child process, downloaded as `trajectories` and `parquet`; the server's and the client's peak
 * RSS are each measured in their own process. BENCH_EXPORT_SECTIONS (writers,api) picks sections.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { median } from './db.ts';
import { type ApiExportBench, apiExportBench } from './export-api.ts';

const TRAJECTORIES = Number(process.env.BENCH_EXPORT_TRAJECTORIES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_EXPORT_ROUNDS ?? 3);
const SECTIONS = (process.env.BENCH_EXPORT_SECTIONS ?? 'writers,api').split(',');
const MODES = ['generate', 'jsonl', 'parquet'] as const;
const TARGET_MB_S: Record<string, number> = { jsonl: 100, parquet: 30 };
const TARGET_RSS = 256 * 2 ** 20;

interface Run {
  mode: string;
  trajectories: number;
  seconds: number;
  bytes: number;
  peak_rss: number;
}

export interface ExportFigures {
  mode: string;
  trajectories: number;
  rounds: number;
  seconds: number;
  output_mb: number;
  mb_per_s: number;
  trajectories_per_s: number;
  /** Throughput with the generator's own time taken out. */
  writer_trajectories_per_s: number | null;
  peak_rss_mb: number;
}

const run = promisify(execFile);

async function runOnce(mode: string, path: string): Promise<Run> {
  const script = fileURLToPath(new URL('./export-run.ts', import.meta.url));
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', script, mode, String(TRAJECTORIES), path],
    {
      maxBuffer: 2 ** 20,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Run;
}

function figures(mode: string, runs: Run[], generateSeconds: number | null): ExportFigures {
  const seconds = median(runs.map((r) => r.seconds));
  const bytes = median(runs.map((r) => r.bytes));
  const writerSeconds = generateSeconds === null ? null : seconds - generateSeconds;
  return {
    mode,
    trajectories: TRAJECTORIES,
    rounds: runs.length,
    seconds,
    output_mb: bytes / 1e6,
    mb_per_s: bytes / 1e6 / seconds,
    trajectories_per_s: TRAJECTORIES / seconds,
    writer_trajectories_per_s: writerSeconds && writerSeconds > 0 ? TRAJECTORIES / writerSeconds : null,
    peak_rss_mb: Math.max(...runs.map((r) => r.peak_rss)) / 2 ** 20,
  };
}

function print(f: ExportFigures): void {
  if (f.mode === 'generate') {
    console.log(
      `export data generator alone: ${f.trajectories_per_s.toFixed(0)} trajectories/s, peak RSS ${f.peak_rss_mb.toFixed(0)} MB`,
    );
    return;
  }
  const target = TARGET_MB_S[f.mode]!;
  const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED');
  console.log(
    `export ${f.mode}: ${f.mb_per_s.toFixed(1)} MB/s of output (target ${target}: ${ok(f.mb_per_s >= target)}), ` +
      `${f.trajectories_per_s.toFixed(0)} trajectories/s (${f.writer_trajectories_per_s?.toFixed(0) ?? '?'} without the generator), ` +
      `${f.output_mb.toFixed(0)} MB for ${f.trajectories} trajectories, peak RSS ${f.peak_rss_mb.toFixed(0)} MB ` +
      `(target < 256: ${ok(f.peak_rss_mb * 2 ** 20 < TARGET_RSS)}), median of ${f.rounds}`,
  );
}

/** The writers alone, on generated records. */
async function writersBench(): Promise<ExportFigures[]> {
  const dir = mkdtempSync(join(tmpdir(), 'te-export-bench-'));
  try {
    const out: ExportFigures[] = [];
    let generateSeconds: number | null = null;
    for (const mode of MODES) {
      const runs: Run[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const path = join(dir, `export.${mode}`);
        runs.push(await runOnce(mode, path));
        rmSync(path, { force: true });
      }
      const f = figures(mode, runs, mode === 'generate' ? null : generateSeconds);
      if (mode === 'generate') generateSeconds = f.seconds;
      print(f);
      out.push(f);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ExportBench {
  writers?: ExportFigures[];
  api?: ApiExportBench;
}

export async function exportBench(databaseUrl: string | undefined): Promise<ExportBench> {
  const out: ExportBench = {};
  if (SECTIONS.includes('writers')) out.writers = await writersBench();
  if (SECTIONS.includes('api')) out.api = await apiExportBench(databaseUrl, TRAJECTORIES, ROUNDS);
  return out;
}
