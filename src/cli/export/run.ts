/**
 * `task-executor export`: pulls the trajectory records of a selection from the API, converts
 * them locally through the format registry, and writes FILE plus FILE.manifest.json. It can be
 * stopped (Ctrl-C, SIGTERM, a lost connection) and run again with the same flags to continue
 * where it stopped; the result is byte for byte the file an uninterrupted run writes.
 */
import { basename } from 'node:path';
import { formatNames, lookupFormat } from '../../datasets/export/formats.ts';
import {
  buildManifest,
  type ExportFilters,
  type ExportManifest,
  emptyTally,
  publicUrl,
} from '../../datasets/export/manifest.ts';
import type { Client } from '../client.ts';
import { EXIT_INTERRUPTED, EXIT_USAGE } from '../exit.ts';
import { DataFile } from './data-file.ts';
import { hashFile } from './hash.ts';
import { Journal } from './journal.ts';
import { createOutput, type ExportOutput } from './output.ts';
import { planStart } from './plan.ts';
import { createProgress, type Progress, type ProgressSink } from './progress.ts';
import { ProtocolError, pull } from './pull.ts';
import { openExport } from './source.ts';
import {
  type ExportPaths,
  exportPaths,
  type PartialState,
  removeIfPresent,
  writeJsonAtomic,
} from './state.ts';

export interface ExportOptions {
  output: string;
  format: string;
  filters: ExportFilters;
  force: boolean;
  quiet: boolean;
}

export interface ExportIO {
  client: Pick<Client, 'open' | 'baseUrl'>;
  stderr: ProgressSink;
  stdout: (line: string) => void;
  /** Where SIGINT/SIGTERM arrive (the process; an emitter in tests). */
  signals: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  /** A second signal exits at once: the resume point on disk is already consistent. */
  exit: (code: number) => void;
  /** How often resume points are saved; tests make them frequent. */
  saveEvery?: { tasks: number; ms: number };
  backoffMs?: number;
}

/** A refused export is bad usage (another selection over this file): see exit.ts. */
export const EXIT_REFUSED = EXIT_USAGE;

/** Resolves with the exit status. */
export async function runExport(o: ExportOptions, io: ExportIO): Promise<number> {
  const format = lookupFormat(o.format);
  if (!format) throw new Error(`unknown format "${o.format}"; one of: ${formatNames().join(', ')}`);
  const paths = exportPaths(o.output);
  const plan = await planStart(paths, { format: o.format, filters: o.filters }, o.force);
  if (plan.kind === 'complete') {
    io.stdout(plan.message);
    return 0;
  }
  if (plan.kind === 'refuse') {
    io.stderr.write(`error: ${plan.message}\n`);
    return EXIT_REFUSED;
  }
  const progress = createProgress(io.stderr, { quiet: o.quiet });
  const output = createOutput(format, paths);
  const state = plan.kind === 'resume' ? plan.state : freshState(o, io.client.baseUrl);
  if (plan.kind === 'resume')
    progress.note(`resuming ${paths.file} after ${state.tally.tasks} tasks (cursor ${state.cursor})`);
  const startedAt = Date.now();
  const stop = new AbortController();
  let finishing = false;
  const onSignal = (signal: string) => {
    // The resume point on disk is consistent at every moment; a second signal, or one while
    // the file format is written from the spool (which a rerun redoes), need not wait.
    if (stop.signal.aborted || finishing) {
      io.stderr.write(`${signal}: stopped; run the same command again to resume\n`);
      io.exit(EXIT_INTERRUPTED);
      return;
    }
    progress.note(`${signal}: stopping after the current line and saving the resume point…`);
    stop.abort();
  };
  io.signals.on('SIGINT', onSignal);
  io.signals.on('SIGTERM', onSignal);
  try {
    const end = await pullAll(state, output, o, io, progress, stop.signal);
    progress.stop();
    if (end.kind === 'interrupted') {
      const { tasks } = end.state.tally;
      const of = end.state.total === null ? '' : `/${end.state.total}`;
      io.stderr.write(
        `interrupted: ${tasks}${of} tasks saved in ${paths.file}. ` +
          'Run the same command again to resume (or add --force to start over).\n',
      );
      return EXIT_INTERRUPTED;
    }
    finishing = true;
    const manifest = await finishExport(paths, output, end.state, o, progress);
    io.stdout(summary(paths, manifest, (Date.now() - startedAt) / 1000));
    return 0;
  } finally {
    io.signals.off('SIGINT', onSignal);
    io.signals.off('SIGTERM', onSignal);
  }
}

/** Pulls (cursor, until] into the data file; the journal is closed (and saved) on every path. */
async function pullAll(
  state: PartialState,
  output: ExportOutput,
  o: ExportOptions,
  io: ExportIO,
  progress: Progress,
  stop: AbortSignal,
): Promise<{ kind: 'complete' | 'interrupted'; state: PartialState }> {
  const data = await DataFile.open(output.dataPath, state.bytes);
  const journal = new Journal(data, state, partialPathOf(o.output), {
    everyTasks: io.saveEvery?.tasks ?? 1000,
    everyMs: io.saveEvery?.ms ?? 1000,
  });
  const startedAt = Date.now();
  const base = state.tally.tasks;
  let total = state.total;
  let end: 'complete' | 'interrupted';
  try {
    end = await pull({
      journal,
      filters: o.filters,
      until: state.until,
      request: (query, signal) => openExport(io.client, query, signal),
      encode: output.encode,
      stop,
      backoffMs: io.backoffMs,
      onResponse(res) {
        const versions = checkVersions(journal.state, res.schemaVersion, res.serverVersion);
        // x-export-total counts what is left in (cursor, until]; the bar shows the whole range.
        total = res.total === null ? total : journal.tally.tasks + res.total;
        journal.amend({ until: journal.state.until ?? res.until, total, ...versions });
      },
      onTask: () =>
        progress.update({
          tasks: journal.tally.tasks,
          total,
          bytes: journal.bytes,
          runTasks: journal.tally.tasks - base,
          runSeconds: (Date.now() - startedAt) / 1000,
        }),
      onRetry: (err, attempt, delay) =>
        progress.note(
          `connection lost (${err.message}); retrying after task ${journal.tally.tasks} ` +
            `in ${(delay / 1000).toFixed(1)} s (retry ${attempt})`,
        ),
    });
  } finally {
    await journal.close();
  }
  return { kind: end, state: journal.state };
}

const partialPathOf = (file: string) => exportPaths(file).partial;

function freshState(o: ExportOptions, apiUrl: string): PartialState {
  const after = typeof o.filters.after === 'string' ? o.filters.after : '0';
  const now = new Date().toISOString();
  return {
    partial_version: 1,
    format: o.format,
    filters: o.filters,
    api_url: publicUrl(apiUrl),
    after,
    until: typeof o.filters.until === 'string' ? o.filters.until : null,
    cursor: after,
    bytes: 0,
    tally: emptyTally(),
    total: null,
    schema_version: null,
    server_version: null,
    started_at: now,
    updated_at: now,
  };
}

/** A resumed export must not mix records of two schema versions in one file. */
function checkVersions(state: PartialState, schema: string | null, server: string | null) {
  const had = state.schema_version;
  if (had !== null && schema !== null && had !== schema)
    throw new ProtocolError(
      `the server now sends schema ${schema} but this export began with ${had}; pass --force to start over`,
    );
  return { schema_version: had ?? schema, server_version: server ?? state.server_version };
}

/**
 * After the last task: the file format's conversion (from the spool), the hash, the manifest,
 * then the resume file and spool go. A stop before the manifest is written leaves the resume
 * file, so the next run redoes only this step.
 */
async function finishExport(
  paths: ExportPaths,
  output: ExportOutput,
  state: PartialState,
  o: ExportOptions,
  progress: Progress,
): Promise<ExportManifest> {
  if (output.dataPath !== paths.file) {
    progress.note(`writing ${paths.file} (${o.format}) from ${state.tally.trajectories} records…`);
    await output.finish(() => {});
  }
  const file = await hashFile(paths.file);
  const manifest = buildManifest({
    schemaVersion: state.schema_version ?? 'unknown',
    format: o.format,
    kind: output.dataPath === paths.file ? 'lines' : 'file',
    filters: state.filters,
    apiUrl: state.api_url,
    serverVersion: state.server_version,
    createdAt: new Date(),
    range: { after: state.after, until: state.until ?? state.cursor },
    tally: state.tally,
    files: [{ path: basename(paths.file), ...file }],
  });
  await writeJsonAtomic(paths.manifest, manifest);
  await removeIfPresent(paths.partial);
  await removeIfPresent(paths.spool);
  return manifest;
}

function summary(paths: ExportPaths, m: ExportManifest, seconds: number): string {
  const c = m.counts;
  const units = c.lines !== undefined ? `${c.lines} lines` : `${c.rows} rows`;
  const bytes = m.files[0]?.bytes ?? 0;
  return (
    `exported ${c.tasks} tasks (${c.trajectories} trajectories, ${units}) to ${paths.file}: ` +
    `${(bytes / (1024 * 1024)).toFixed(1)} MB in ${seconds.toFixed(1)} s; manifest ${paths.manifest}`
  );
}
