/**
 * The `export` command's selection flags and the query they become. Flags are the endpoint's
 * query parameters in kebab-case (`--experiment-id` → `experiment_id`), so the README's
 * endpoint table documents both.
 */
import type { Command } from 'commander';
import { canonicalFilters, type ExportFilters } from '../../datasets/export/manifest.ts';
import { finite, integer } from '../numbers.ts';

/**
 * A numeric filter is checked where it is typed (exit 2 with the range) but kept as the text
 * given, since the text is what the manifest and the resume point compare.
 */
const checked =
  (parse: (raw: string) => number) =>
  (raw: string): string => {
    parse(raw);
    return raw;
  };
const NUMERIC: Record<string, (raw: string) => string> = {
  'policy-version-min': checked(integer(0, Number.MAX_SAFE_INTEGER)),
  'policy-version-max': checked(integer(0, Number.MAX_SAFE_INTEGER)),
  'min-reward': checked(finite),
  'max-reward': checked(finite),
};

/** [flag, query parameter, help]; every one takes a single value. */
const SINGLE: [string, string, string][] = [
  ['experiment-id', 'experiment_id', 'only tasks of this experiment'],
  ['group-id', 'group_id', 'only tasks of this experiment group'],
  ['problem-id', 'problem_id', 'only this problem'],
  ['backend-type', 'backend_type', 'only tasks of this backend'],
  ['worker-id', 'worker_id', 'only tasks this worker ran'],
  ['model', 'model', 'only tasks whose agent used this model'],
  ['status', 'status', 'comma-separated task statuses (completed,failed,timeout,cancelled)'],
  ['policy-version-min', 'policy_version_min', 'lowest policy_version'],
  ['policy-version-max', 'policy_version_max', 'highest policy_version'],
  ['completed-after', 'completed_after', 'ISO time: tasks completed at or after it'],
  ['completed-before', 'completed_before', 'ISO time: tasks completed before it'],
  ['min-reward', 'min_reward', 'lowest reward'],
  ['max-reward', 'max_reward', 'highest reward'],
  ['reward-name', 'reward_name', 'judge --min-reward/--max-reward by this named reward'],
  ['attempts', 'attempts', 'final (one record per task) or all (one per attempt; default)'],
  ['after', 'after', 'feed cursor to start after (e.g. the range.until of a previous manifest)'],
  ['until', 'until', 'feed cursor to stop at (default: the feed head when the export starts)'],
];

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function addSelectionOptions(cmd: Command): Command {
  for (const [flag, , help] of SINGLE) {
    const parse = NUMERIC[flag];
    if (parse) cmd.option(`--${flag} <value>`, help, parse);
    else cmd.option(`--${flag} <value>`, help);
  }
  return cmd.option(
    '--label <key=value>',
    'label that must match (repeatable; all must match)',
    (v: string, prev: string[]) => [...prev, v],
    [],
  );
}

/**
 * The filters of a run, keyed by query parameter. `after` and `until` count as part of the
 * selection: resuming with a different range would splice two different exports together.
 */
export function selectionFrom(o: Record<string, unknown>): ExportFilters {
  const f: ExportFilters = {};
  for (const [flag, param] of SINGLE) {
    const v = o[camel(flag)];
    if (typeof v === 'string' && v !== '') f[param] = v;
  }
  const labels = Array.isArray(o.label) ? (o.label as string[]) : [];
  if (labels.length) f.label = labels.map(labelParam);
  return canonicalFilters(f);
}

/**
 * `key=value` (as `submit --label` takes it) or `key:value` → `key=value`, split where the
 * server splits (the first `=`, else the first `:`), so `a=b:c` means key a, value b:c.
 */
export function labelParam(text: string): string {
  const at = text.includes('=') ? text.indexOf('=') : text.indexOf(':');
  if (at <= 0) throw new Error(`--label wants key=value, got "${text}"`);
  return `${text.slice(0, at)}=${text.slice(at + 1)}`;
}

/**
 * The endpoint query for one request: always `format=trajectories` (the CLI converts locally,
 * so every format resumes the same way), the filters, and this request's range.
 */
export function exportQuery(filters: ExportFilters, range: { after: string; until: string | null }): string {
  const q = new URLSearchParams({ format: 'trajectories' });
  for (const [key, v] of Object.entries(filters)) {
    if (key === 'after' || key === 'until') continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(key, one);
  }
  q.set('after', range.after);
  if (range.until !== null) q.set('until', range.until);
  return q.toString();
}
