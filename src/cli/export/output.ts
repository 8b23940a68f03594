/**
 * How a registered format turns into files on disk, generic over the registry: a line format
 * writes its converted lines straight into the output; a file format (Parquet) keeps the
 * trajectory lines, byte for byte as the server sent them, in a spool that resumes like a line
 * output, and writes the real file from the spool once the whole range is in.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import { type ExportFormat, encodeLines } from '../../datasets/export/formats.ts';
import type { TrajectoryRecord } from '../../datasets/export/record.ts';
import type { ExportPaths } from './state.ts';

/** One task's records as they go to the data file. */
export interface EncodedTask {
  bytes: Buffer;
  /** Lines (line formats) or rows (file formats) this task adds. */
  units: number;
}

export interface ExportOutput {
  /** The file appended to while pulling (and resumed): the output itself, or the spool. */
  dataPath: string;
  encode(records: readonly TrajectoryRecord[], raw: readonly Buffer[]): EncodedTask;
  /** Once every task is in the data file: writes the output from it (file formats only). */
  finish(onRow: (rows: number) => void): Promise<void>;
}

const NL = Buffer.from('\n');

export function createOutput(format: ExportFormat, paths: ExportPaths): ExportOutput {
  if (format.kind === 'lines') {
    return {
      dataPath: paths.file,
      encode(records) {
        let text = '';
        for (const r of records) text += encodeLines(format, r);
        return { bytes: Buffer.from(text), units: countNewlines(text) };
      },
      finish: async () => {},
    };
  }
  return {
    dataPath: paths.spool,
    encode(records, raw) {
      return { bytes: Buffer.concat(raw.flatMap((line) => [line, NL])), units: records.length };
    },
    finish: (onRow) => writeFromSpool(format.writer, paths.spool, paths.file, onRow),
  };
}

/** JSON.stringify escapes newlines inside strings, so each raw newline ends one document. */
function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Streams the spool through the format's writer into the output: one record in memory at a
 * time (plus whatever the writer buffers for its row group), however large the export.
 */
async function writeFromSpool(
  factory: Extract<ExportFormat, { kind: 'file' }>['writer'],
  spool: string,
  file: string,
  onRow: (rows: number) => void,
): Promise<void> {
  const out = createWriteStream(file);
  const failed = once(out, 'error').then(([err]) => {
    throw err;
  });
  failed.catch(() => {});
  const writer = factory(out);
  const lines = createInterface({ input: createReadStream(spool), crlfDelay: Number.POSITIVE_INFINITY });
  let rows = 0;
  try {
    for await (const line of lines) {
      if (!line) continue;
      await Promise.race([writer.write(JSON.parse(line) as TrajectoryRecord), failed]);
      onRow(++rows);
    }
    await Promise.race([writer.end(), failed]);
  } finally {
    writer.close();
  }
  // The writer hands over its last bytes; whether it also ends `out` is its choice.
  if (!out.writableEnded) out.end();
  await finished(out);
}
