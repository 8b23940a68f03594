/**
 * The manifest written next to a finished export (`<file>.manifest.json`): what was selected,
 * from which server and feed range, how many tasks and records it holds, and each file's size
 * and SHA-256 so a reader can check the bytes before training on them. Pure (no I/O), so the
 * server's endpoint can describe its own exports the same way; the caller hashes the files.
 */
import type { TrajectoryRecord } from './record.ts';

export const MANIFEST_VERSION = 1;

/** Query filters as sent to the export endpoint; repeatable ones (label) as arrays. */
export type ExportFilters = Record<string, string | string[]>;

/** What an export has taken in so far; grows record by record, JSON-serialisable for resuming. */
export interface ExportTally {
  tasks: number;
  /** Trajectory records (one per task attempt). */
  trajectories: number;
  /** Lines written (line formats) or rows (file formats: one row per record). */
  units: number;
  first_completed_at: string | null;
  last_completed_at: string | null;
}

export const emptyTally = (): ExportTally => ({
  tasks: 0,
  trajectories: 0,
  units: 0,
  first_completed_at: null,
  last_completed_at: null,
});

/**
 * Adds one task's records (all its attempts) and the lines or rows they became. The feed is in
 * finish-cursor order, which is commit order, not strictly completed_at order, so the time
 * range takes the minimum and maximum rather than the first and last seen.
 */
export function tallyTask(t: ExportTally, records: readonly TrajectoryRecord[], units: number): ExportTally {
  let first = t.first_completed_at;
  let last = t.last_completed_at;
  for (const r of records) {
    const at = r.completed_at;
    if (at === null) continue;
    if (first === null || Date.parse(at) < Date.parse(first)) first = at;
    if (last === null || Date.parse(at) > Date.parse(last)) last = at;
  }
  return {
    tasks: t.tasks + 1,
    trajectories: t.trajectories + records.length,
    units: t.units + units,
    first_completed_at: first,
    last_completed_at: last,
  };
}

export interface ManifestFile {
  /** File name relative to the manifest (its basename). */
  path: string;
  bytes: number;
  sha256: string;
}

export interface ExportManifest {
  manifest_version: typeof MANIFEST_VERSION;
  schema_version: string;
  format: string;
  kind: 'lines' | 'file';
  filters: ExportFilters;
  api_url: string | null;
  server_version: string | null;
  created_at: string;
  /** Feed cursors: the export holds the tasks that finished in (after, until]. */
  range: { after: string; until: string };
  time_range: { first_completed_at: string | null; last_completed_at: string | null };
  counts: { tasks: number; trajectories: number; lines?: number; rows?: number };
  files: ManifestFile[];
}

export interface ManifestInput {
  schemaVersion: string;
  format: string;
  kind: 'lines' | 'file';
  filters: ExportFilters;
  apiUrl: string | null;
  serverVersion: string | null;
  createdAt: Date;
  range: { after: string; until: string };
  tally: ExportTally;
  files: ManifestFile[];
}

export function buildManifest(m: ManifestInput): ExportManifest {
  const { tally } = m;
  const unit = m.kind === 'lines' ? { lines: tally.units } : { rows: tally.units };
  return {
    manifest_version: MANIFEST_VERSION,
    schema_version: m.schemaVersion,
    format: m.format,
    kind: m.kind,
    filters: canonicalFilters(m.filters),
    api_url: m.apiUrl === null ? null : publicUrl(m.apiUrl),
    server_version: m.serverVersion,
    created_at: m.createdAt.toISOString(),
    range: { ...m.range },
    time_range: {
      first_completed_at: tally.first_completed_at,
      last_completed_at: tally.last_completed_at,
    },
    counts: { tasks: tally.tasks, trajectories: tally.trajectories, ...unit },
    files: m.files.map((f) => ({ ...f })),
  };
}

/**
 * Filters in one spelling: keys sorted, repeated values sorted and deduplicated, comma lists
 * (status) normalised, empty values dropped. Two selections are the same export exactly when
 * their canonical forms are equal, which is what resuming checks.
 */
export function canonicalFilters(f: ExportFilters): ExportFilters {
  const out: ExportFilters = {};
  for (const key of Object.keys(f).sort()) {
    const v = f[key];
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      const values = [...new Set(v)].sort();
      if (values.length) out[key] = values;
    } else if (v !== '') {
      out[key] = key === 'status' ? [...new Set(v.split(',').map((s) => s.trim()))].sort().join(',') : v;
    }
  }
  return out;
}

export const sameFilters = (a: ExportFilters, b: ExportFilters): boolean =>
  JSON.stringify(canonicalFilters(a)) === JSON.stringify(canonicalFilters(b));

/** The URL without user name, password or query, so a manifest never carries credentials. */
export function publicUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString().replace(/\/+$/, '');
  } catch {
    return '(invalid url)';
  }
}
