/**
 * The files of one export and its resume point. While an export runs, `<file>.partial.json`
 * records the last task fully written and the data file's size at that point, so a second run
 * can cut off whatever was written after it and ask the server for the rest of the same range.
 */
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';

export interface ExportPaths {
  file: string;
  partial: string;
  manifest: string;
  /** File formats collect the trajectory lines here first (the part that resumes). */
  spool: string;
}

export const exportPaths = (file: string): ExportPaths => ({
  file,
  partial: `${file}.partial.json`,
  manifest: `${file}.manifest.json`,
  spool: `${file}.spool.jsonl`,
});

const Tally = Type.Object({
  tasks: Type.Integer({ minimum: 0 }),
  trajectories: Type.Integer({ minimum: 0 }),
  units: Type.Integer({ minimum: 0 }),
  first_completed_at: Type.Union([Type.String(), Type.Null()]),
  last_completed_at: Type.Union([Type.String(), Type.Null()]),
});

const PartialSchema = Type.Object({
  partial_version: Type.Literal(1),
  format: Type.String(),
  filters: Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())])),
  api_url: Type.String(),
  /** The range of the whole export: (after, until]. */
  after: Type.String(),
  /** null until the first response named the feed head (nothing is written before it). */
  until: Type.Union([Type.String(), Type.Null()]),
  /** The finish cursor of the last task fully written (== after before the first). */
  cursor: Type.String(),
  /** Size of the data file (the output, or the spool for file formats) at `cursor`. */
  bytes: Type.Integer({ minimum: 0 }),
  tally: Tally,
  /** Tasks in the whole range, for the progress display; null when the server did not say. */
  total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  schema_version: Type.Union([Type.String(), Type.Null()]),
  server_version: Type.Union([Type.String(), Type.Null()]),
  started_at: Type.String(),
  updated_at: Type.String(),
});

export type PartialState = Static<typeof PartialSchema>;

/** null when there is no partial file; throws when there is one that cannot be read. */
export async function readPartial(path: string): Promise<PartialState | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON; remove it or pass --force to start over`, { cause: err });
  }
  if (!Value.Check(PartialSchema, data))
    throw new Error(`${path} is not an export resume file this version reads; pass --force to start over`);
  return data as PartialState;
}

/**
 * Writes JSON so that a reader sees the old file or the new one, never half of either: a
 * temporary file, flushed to disk, then renamed over the target (rename is atomic on POSIX).
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

export const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

export async function fileSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

export const removeIfPresent = (path: string) => rm(path, { force: true });
