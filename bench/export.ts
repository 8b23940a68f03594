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
import { compileBenchScript } from './compiled.ts';
import { median } from './db.ts';
import { type ApiExportBench, apiExportBench } from './export-api.ts';

const TRAJECTORIES = Number(process.env.BENCH_EXPORT_TRAJECTORIES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_EXPORT_ROUNDS ?? 3);
const SECTIONS = (process.env.BENCH_EXPORT_SECTIONS ?? 'writers,api').split(',');
/** One more Parquet run this many times larger: does its peak RSS grow with the export? (0: skip) */
const SCALE = Number(process.env.BENCH_EXPORT_SCALE ?? 3);
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

/** Compiled once per bench (bench/compiled.ts): its runs' peak RSS is the export's, not tsx's. */
let runScript: string | null = null;

async function runOnce(mode: string, path: string, trajectories = TRAJECTORIES): Promise<Run> {
  runScript ??= compileBenchScript(fileURLToPath(new URL('./export-run.ts', import.meta.url)));
  const { stdout } = await run(process.execPath, [runScript, mode, String(trajectories), path], {
    maxBuffer: 2 ** 20,
  });
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

export interface ScaleFigures {
  trajectories: number;
  output_mb: number;
  peak_rss_mb: number;
  /** The same writer's peak at BENCH_EXPORT_TRAJECTORIES. */
  base_peak_rss_mb: number;
}

/** The Parquet writer (the one format with a footer that grows with the file) at SCALE x N. */
async function scaleRun(dir: string, base: ExportFigures): Promise<ScaleFigures> {
  const trajectories = TRAJECTORIES * SCALE;
  const path = join(dir, 'export.scale.parquet');
  const r = await runOnce('parquet', path, trajectories);
  rmSync(path, { force: true });
  const out = {
    trajectories,
    output_mb: r.bytes / 1e6,
    peak_rss_mb: r.peak_rss / 2 ** 20,
    base_peak_rss_mb: base.peak_rss_mb,
  };
  console.log(
    `export parquet at ${trajectories} trajectories (${out.output_mb.toFixed(0)} MB): peak RSS ${out.peak_rss_mb.toFixed(0)} MB ` +
      `(${out.base_peak_rss_mb.toFixed(0)} MB at ${TRAJECTORIES}; target < 256 at any size: ${r.peak_rss < TARGET_RSS ? 'ok' : 'MISSED'})`,
  );
  return out;
}

/** The writers alone, on generated records. */
async function writersBench(): Promise<{ formats: ExportFigures[]; scale?: ScaleFigures }> {
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
    const parquet = out.find((f) => f.mode === 'parquet')!;
    return { formats: out, scale: SCALE > 1 ? await scaleRun(dir, parquet) : undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ExportBench {
  writers?: { formats: ExportFigures[]; scale?: ScaleFigures };
  api?: ApiExportBench;
}

export async function exportBench(databaseUrl: string | undefined): Promise<ExportBench> {
  const out: ExportBench = {};
  if (SECTIONS.includes('writers')) out.writers = await writersBench();
  if (SECTIONS.includes('api')) out.api = await apiExportBench(databaseUrl, TRAJECTORIES, ROUNDS);
  return out;
}
