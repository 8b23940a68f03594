/** Plain-text rendering for terminals; every command also has --json for scripts. */
import type { Task, TaskLog } from '../queue/types.ts';

export function taskLine(t: Task): string {
  const labels = Object.entries(t.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return [t.id, t.status.padEnd(9), `p${t.priority}`, t.problem_id, t.worker_id ?? '-', labels].join('  ');
}

export function taskDetail(t: Task): string {
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
  if (t.result !== null) lines.push(`result:      ${JSON.stringify(t.result)}`);
  if (t.error_details !== null) lines.push(`error:       ${JSON.stringify(t.error_details)}`);
  return lines.join('\n');
}

export function logLine(l: TaskLog): string {
  return `${l.timestamp}  ${l.level.toUpperCase().padEnd(8)} [${l.source}] ${l.message}`;
}
