/**
 * One export benchmark run, in a process of its own so that its peak RSS is the export's alone
 * (the bench runner's process holds a database and an API server): generates the dataset
 * (bench/export-data.ts) and writes it in one format to a file, then prints one JSON line.
 *   node --import tsx bench/export-run.ts <generate|jsonl|parquet> <trajectories> <path>
 * `generate` only builds the records (the generator's own share of the other runs' time).
 */
import { once } from 'node:events';
import { createWriteStream, readFileSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { encodeLines, lookupFormat } from '../src/datasets/export/formats.ts';
import type { TrajectoryRecord } from '../src/datasets/export/record.ts';
import { generateTrajectories } from './export-data.ts';

const [mode = 'jsonl', count = '1000', path = '/dev/null'] = process.argv.slice(2);
const trajectories = Number(count);

/**
 * The process's peak RSS: the kernel's high-water mark (VmHWM), exact, and free to read once at
 * the end (sampling RSS after every record cost ~1-8 % of a run and could miss a peak between
 * samples).
 */
function peakRss(): number {
  const kb = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (kb === undefined) throw new Error('no VmHWM in /proc/self/status');
  return Number(kb) * 1024;
}

/** The trajectories format's bytes, through a file stream that is waited on when full. */
async function writeJsonl(records: Iterable<TrajectoryRecord>, out: Writable): Promise<void> {
  const format = lookupFormat('trajectories');
  if (format?.kind !== 'lines') throw new Error('the trajectories format is not a line format');
  for (const record of records) {
    if (!out.write(encodeLines(format, record))) await once(out, 'drain');
  }
}

async function writeParquet(records: Iterable<TrajectoryRecord>, out: Writable): Promise<void> {
  const format = lookupFormat('parquet');
  if (format?.kind !== 'file') throw new Error('the parquet format is not a file format');
  const writer = format.writer(out);
  for (const record of records) {
    await writer.write(record);
  }
  await writer.end();
}

async function main() {
  const records = generateTrajectories({ trajectories });
  const t0 = performance.now();
  if (mode === 'generate') {
    let count = 0;
    for (const _ of records) count++;
    if (count !== trajectories) throw new Error(`generated ${count} of ${trajectories} records`);
  } else {
    const out = createWriteStream(path);
    await (mode === 'parquet' ? writeParquet(records, out) : writeJsonl(records, out));
    out.end();
    await finished(out);
  }
  const seconds = (performance.now() - t0) / 1000;
  const bytes = mode === 'generate' ? 0 : statSync(path).size;
  console.log(JSON.stringify({ mode, trajectories, seconds, bytes, peak_rss: peakRss() }));
}

await main();
