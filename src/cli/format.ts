/** Plain-text rendering for terminals; every command also has --json for scripts. */
import type { Task, TaskLog } from '../queue/types.ts';

export function taskLine(t: Task): string {
  const labels = Object.entries(t.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return [t.id, t.status.padEnd(9), `p${t.priority}`, t.problem_id, t.worker_id ?? '-', labels].join('  ');
}

/** A task as GET /tasks/{id} returns it: a pending one says why it waits, when nobody can run it. */
export function taskDetail(t: Task & { waiting_reason?: string | null }): string {
  const lines = [
    `id:          ${t.id}`,
    `problem:     ${t.problem_id}`,
    `status:      ${t.status}${t.cancel_requested && t.status === 'running' ? ' (cancel requested)' : ''}`,
    `priority:    ${t.priority}   backend: ${t.backend_type ?? 'any'}   attempt: ${t.attempt}/${t.max_attempts}`,
    `worker:      ${t.worker_id ?? '-'}`,
    `created:     ${t.created_at}`,
    `started:     ${t.started_at ?? '-'}`,
    `completed:   ${t.completed_at ?? '-'}`,
  ];
  if (t.waiting_reason) lines.push(`waiting:     ${t.waiting_reason}`);
  if (t.result !== null) lines.push(...resultLines(t.result));
  const error = errorSummary(t);
  if (error) lines.push(`error:       ${error}`);
  return lines.join('\n');
}

/** Above this a result is clipped on a terminal (`--json` gives it whole). */
const RESULT_CHARS = 1000;

/**
 * A result for a person: an episode's outcome (end, evaluation keys, the recorded
 * conversation) instead of its whole trace; any other result as JSON, clipped.
 */
export function resultLines(result: unknown): string[] {
  const r = result as Record<string, unknown> | null;
  if (r && typeof r === 'object' && !Array.isArray(r) && 'results' in r) {
    const evaluation = Object.entries((r.results ?? {}) as Record<string, unknown>)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join(', ');
    const lines = [
      `end:         ${r.end_reason} after ${r.steps} steps; solution: ${JSON.stringify(r.solution)}`,
      `evaluation:  ${evaluation || '-'}`,
    ];
    if (r.conversation_id)
      lines.push(
        `conversation: GET /api/v1/llm-conversations/${r.conversation_id} (calls: …/${r.conversation_id}/calls)`,
      );
    return lines;
  }
  const text = JSON.stringify(result);
  const shown =
    text.length > RESULT_CHARS
      ? `${text.slice(0, RESULT_CHARS)}… (${text.length} chars; --json shows it all)`
      : text;
  return [`result:      ${shown}`];
}

/** The error as one line: its reason (from error_info) and its text (error_details). */
export function errorSummary(t: Pick<Task, 'error_details' | 'error_info'>): string | null {
  if (t.error_details === null) return null;
  const info = t.error_info;
  const reason =
    info && typeof info === 'object' && !Array.isArray(info) && typeof info.reason === 'string'
      ? info.reason
      : null;
  return reason && reason !== t.error_details ? `[${reason}] ${t.error_details}` : t.error_details;
}

export function logLine(l: TaskLog): string {
  return `${l.timestamp}  ${l.level.toUpperCase().padEnd(8)} [${l.source}] ${l.message}`;
}

export interface ProblemList {
  problems: {
    id: string;
    backend: string;
    task_type: string | null;
    app: string | null;
    description: string | null;
    deployment?: string | null;
  }[];
  backends: {
    backend: string;
    live_workers: number;
    any_problem: boolean;
    patterns: string[];
    problems: number;
  }[];
  total: number;
}

/**
 * One line per problem (id, backend, task type, app, description; an AIOpsLab problem the
 * server listed shows its deployment where the app goes), then a line per backend.
 */
export function problemTable(r: ProblemList): string {
  const width = Math.max(10, ...r.problems.map((p) => p.id.length));
  const lines = r.problems.map((p) =>
    [
      p.id.padEnd(width),
      p.backend.padEnd(8),
      (p.task_type ?? '-').padEnd(12),
      (p.app ?? (p.deployment ? `deployment: ${p.deployment}` : '-')).padEnd(18),
      p.description ?? '',
    ]
      .join('  ')
      .trimEnd(),
  );
  lines.push('');
  for (const b of r.backends) {
    const extra = [
      b.any_problem ? 'takes any problem id' : '',
      b.patterns.length ? `patterns: ${b.patterns.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    lines.push(
      `${b.backend}: ${b.problems} problems, ${b.live_workers} live workers${extra ? ` (${extra})` : ''}`,
    );
  }
  return lines.join('\n');
}
