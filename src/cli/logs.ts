/**
 * `task-executor logs <id> [--follow]`: the most recent `--limit` entries (like `tail -n`), then
 * with --follow every later entry from the log stream until the task has ended.
 *
 * The stream's cursors (`<txid>-<id>`) are not the `seq` the first page carries, so following
 * reads the stream from the task's first entry and skips what the first page already showed:
 * the entries it printed, and when it was cut at `--limit`, the older ones it left out. An
 * entry whose transaction committed after the first page was read still shows (unless it is
 * older than the page's oldest entry, i.e. outside the tail asked for).
 */
import type { TaskLog } from '../queue/types.ts';
import type { Client } from './client.ts';
import { logLine } from './format.ts';
import { readStream, type StreamOptions } from './sse.ts';

export interface LogsOptions {
  /** Comma-separated levels. */
  level?: string;
  limit: number;
  follow?: boolean;
  json?: boolean;
}

export interface LogsOutput {
  /** An entry (stdout). */
  line(text: string): void;
  /** The final status, kept off stdout in --json mode so it stays one entry per line. */
  note(text: string): void;
}

const consoleOutput: LogsOutput = { line: console.log, note: console.error };

/** Resolves with the task's final status when following, else null. */
export async function showLogs(
  client: Pick<Client, 'get' | 'open'>,
  taskId: string,
  o: LogsOptions,
  out: LogsOutput = consoleOutput,
  stream: StreamOptions = {},
): Promise<string | null> {
  const print = (l: TaskLog) => out.line(o.json ? JSON.stringify(l) : logLine(l));
  const base = `/api/v1/tasks/${encodeURIComponent(taskId)}/logs`;
  const level = o.level ? `level=${encodeURIComponent(o.level.toLowerCase())}` : '';
  const page = await client.get<{ logs: TaskLog[] }>(`${base}?limit=${o.limit}${level ? `&${level}` : ''}`);
  page.logs.forEach(print);
  if (!o.follow) return null;
  const shown = new Set(page.logs.map((l) => l.seq));
  // A full page may have left older entries out; a short one showed them all.
  const floor = page.logs.length >= o.limit ? (page.logs[0]?.seq ?? 0) : 0;
  for await (const e of readStream(client, `${base}/stream${level ? `?${level}` : ''}`, stream)) {
    if (e.event === 'log') {
      const log = e.data as TaskLog;
      if (!shown.has(log.seq) && log.seq >= floor) print(log);
    } else if (e.event === 'end') {
      const status = (e.data as { status: string }).status;
      (o.json ? out.note : out.line)(`== ${status}`);
      return status;
    }
  }
  return null;
}
