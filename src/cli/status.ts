/**
 * `task-executor status` without an id: the queue at a glance (counts, success rate, timings)
 * and the newest tasks as a table, for a person; `--json` keeps both as JSON for scripts.
 */
import type { Task } from '../queue/types.ts';
import type { Client } from './client.ts';
import { errorSummary } from './format.ts';

export interface QueueStats {
  total: number;
  by_status: Record<string, number>;
  success_rate: number | null;
  average_wait_seconds: number | null;
  average_execution_seconds: number | null;
  oldest_pending_age_seconds: number | null;
  window: { window: string; claims: number };
}

export interface QueueOverview {
  stats: QueueStats;
  recent: Task[];
}

const STATUSES = ['pending', 'running', 'completed', 'failed', 'timeout', 'cancelled'];

export async function readOverview(client: Pick<Client, 'get'>, limit = 20): Promise<QueueOverview> {
  const stats = await client.get<QueueStats>('/queue/stats');
  const recent = await client.get<{ tasks: Task[] }>(`/api/v1/tasks?limit=${limit}`);
  return { stats, recent: recent.tasks };
}

export function overviewText({ stats, recent }: QueueOverview): string {
  const counts = STATUSES.map((s) => `${s} ${stats.by_status[s] ?? 0}`).join(', ');
  const rate = stats.success_rate === null ? '-' : `${(stats.success_rate * 100).toFixed(1)}%`;
  const timing = [
    `success rate ${rate}`,
    `oldest pending ${seconds(stats.oldest_pending_age_seconds)}`,
    `last ${stats.window.window}: ${stats.window.claims} claims, wait ${seconds(stats.average_wait_seconds)}, run ${seconds(stats.average_execution_seconds)}`,
  ].join('   ');
  const lines = [`queue: ${stats.total} tasks (${counts})`, timing, ''];
  if (recent.length === 0) lines.push('no tasks yet');
  else lines.push(`newest ${recent.length}:`, ...taskTable(recent));
  return lines.join('\n');
}

/** Aligned columns with a header; the last column (error or labels) runs to the line's end. */
export function taskTable(tasks: Task[]): string[] {
  const rows = tasks.map((t) => [
    t.id,
    t.status,
    String(t.priority),
    t.problem_id,
    t.worker_id ?? '-',
    t.created_at.slice(0, 19).replace('T', ' '),
    clip(errorSummary(t) ?? labelText(t), 120),
  ]);
  const header = ['ID', 'STATUS', 'PRIO', 'PROBLEM', 'WORKER', 'CREATED', 'ERROR / LABELS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function labelText(t: Task): string {
  return Object.entries(t.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

function seconds(s: number | null): string {
  if (s === null) return '-';
  return s < 120 ? `${s.toFixed(1)}s` : `${(s / 60).toFixed(1)}min`;
}
