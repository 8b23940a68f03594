/**
 * What a run starts from, decided from the files already there: a new export, the rest of an
 * interrupted one with the same selection, nothing (the export is complete), or a refusal
 * (a different selection, or a file this command did not write) unless --force.
 */
import { type ExportFilters, sameFilters } from '../../datasets/export/manifest.ts';
import { type ExportPaths, exists, type PartialState, readPartial, removeIfPresent } from './state.ts';

export type StartPlan =
  | { kind: 'fresh' }
  | { kind: 'resume'; state: PartialState }
  | { kind: 'complete'; message: string }
  | { kind: 'refuse'; message: string };

export async function planStart(
  paths: ExportPaths,
  want: { format: string; filters: ExportFilters },
  force: boolean,
): Promise<StartPlan> {
  if (force) {
    await clearExport(paths);
    return { kind: 'fresh' };
  }
  const partial = await readPartial(paths.partial);
  if (partial) {
    if (partial.format === want.format && sameFilters(partial.filters, want.filters))
      return { kind: 'resume', state: partial };
    return { kind: 'refuse', message: mismatch(paths, partial, want) };
  }
  if (await exists(paths.manifest)) {
    // A spool left by a run stopped between writing the manifest and cleaning up.
    await removeIfPresent(paths.spool);
    return {
      kind: 'complete',
      message: `${paths.file} is already exported (see ${paths.manifest}); pass --force to export it again`,
    };
  }
  if (await exists(paths.file))
    return {
      kind: 'refuse',
      message: `${paths.file} exists and is not an unfinished export; pass --force to overwrite it`,
    };
  return { kind: 'fresh' };
}

/** Everything a previous export left at this path. */
export async function clearExport(paths: ExportPaths): Promise<void> {
  await Promise.all([paths.partial, paths.manifest, paths.spool, paths.file].map(removeIfPresent));
}

function mismatch(paths: ExportPaths, had: PartialState, want: { format: string; filters: ExportFilters }) {
  const show = (format: string, filters: ExportFilters) => `--format ${format} ${JSON.stringify(filters)}`;
  return (
    `${paths.partial} belongs to an unfinished export with a different selection:\n` +
    `  it has:    ${show(had.format, had.filters)}\n` +
    `  you asked: ${show(want.format, want.filters)}\n` +
    'Run the export again with its flags to resume it, or pass --force to start this one over it.'
  );
}
