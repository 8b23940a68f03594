/**
 * `submit --follow`: prints each task's episode as it happens — phases, every step's reply,
 * parsed call and observation head, retries and errors — then its evaluation. Reads the
 * task logs with the `after` cursor, so nothing is printed twice or skipped. While a task
 * waits with no worker able to run it, the reason is shown.
 */
import type { Json, Task, TaskLog } from '../queue/types.ts';
import type { Client } from './client.ts';
import { errorSummary } from './format.ts';

const TERMINAL = new Set(['completed', 'failed', 'timeout', 'cancelled']);
const POLL_MS = 500;
const OBSERVATION_LINES = 8;

type TaskDetail = Task & { waiting_reason?: string | null };
type Context = Record<string, Json>;

interface Followed {
  id: string;
  after: number;
  waiting: string | null;
  done: boolean;
  prefix: string;
}

/** Follows the tasks until every one has ended; resolves true when all completed. */
export async function followTasks(
  client: Client,
  tasks: readonly Task[],
  print: (line: string) => void = console.log,
): Promise<boolean> {
  const followed: Followed[] = tasks.map((t) => ({
    id: t.id,
    after: 0,
    waiting: null,
    done: false,
    prefix: tasks.length > 1 ? `[${t.id.slice(0, 8)}] ` : '',
  }));
  let allCompleted = true;
  while (followed.some((f) => !f.done)) {
    for (const f of followed.filter((x) => !x.done)) {
      const task = await client.get<TaskDetail>(`/api/v1/tasks/${f.id}`);
      await printNewLogs(client, f, print);
      if (task.status === 'pending' && task.waiting_reason && task.waiting_reason !== f.waiting)
        print(`${f.prefix}waiting: ${task.waiting_reason}`);
      f.waiting = task.waiting_reason ?? null;
      if (!TERMINAL.has(task.status)) continue;
      await printNewLogs(client, f, print);
      for (const line of outcomeLines(task)) print(`${f.prefix}${line}`);
      if (task.status !== 'completed') allCompleted = false;
      f.done = true;
    }
    if (followed.some((f) => !f.done)) await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return allCompleted;
}

async function printNewLogs(client: Client, f: Followed, print: (line: string) => void): Promise<void> {
  for (;;) {
    const page = await client.get<{ logs: TaskLog[] }>(
      `/api/v1/tasks/${f.id}/logs?after=${f.after}&limit=1000`,
    );
    for (const log of page.logs) for (const line of episodeLines(log)) print(`${f.prefix}${line}`);
    f.after = page.logs.at(-1)?.seq ?? f.after;
    if (page.logs.length < 1000) return;
  }
}

/** One log entry as terminal lines: a step shows its reply, call and observation head. */
export function episodeLines(log: TaskLog): string[] {
  const c = (
    log.context && typeof log.context === 'object' && !Array.isArray(log.context) ? log.context : {}
  ) as Context;
  if (typeof c.step !== 'number' || !('observation_head' in c)) return [`${levelMark(log)}${log.message}`];
  const lines = [`── step ${c.step} ${'─'.repeat(40)}`];
  const thought = replyText(String(c.reply ?? ''));
  if (thought) lines.push(`  reply: ${thought}`);
  if (c.call && typeof c.call === 'object' && !Array.isArray(c.call))
    lines.push(`  call:  ${callText(c.call as Context)}`);
  else lines.push(`  parse error: ${firstLine(String(c.parse_error ?? ''))}`);
  const head = String(c.observation_head ?? '')
    .split('\n')
    .slice(0, OBSERVATION_LINES);
  lines.push(...head.map((l) => `  │ ${l}`));
  const total = Number(c.observation_chars ?? 0);
  if (total > 0) lines.push(`  (${total} chars, ${c.duration_ms ?? '?'} ms)`);
  return lines;
}

function outcomeLines(task: Task): string[] {
  const lines = [`== ${task.status}`];
  const r = (task.result ?? null) as Context | null;
  if (r && typeof r === 'object' && 'results' in r) {
    lines.push(`  end: ${r.end_reason} after ${r.steps} steps; solution: ${JSON.stringify(r.solution)}`);
    for (const [k, v] of Object.entries((r.results ?? {}) as Context))
      lines.push(`  ${k}: ${JSON.stringify(v)}`);
    if (r.conversation_id)
      lines.push(
        `  conversation: GET /api/v1/llm-conversations/${r.conversation_id} (calls: …/${r.conversation_id}/calls)`,
      );
  } else if (task.result !== null) lines.push(`  result: ${JSON.stringify(task.result)}`);
  const error = errorSummary(task);
  if (error) lines.push(`  error: ${error}`);
  return lines;
}

function levelMark(log: TaskLog): string {
  return log.level === 'info' || log.level === 'debug' ? '' : `${log.level.toUpperCase()}: `;
}

/** The reply without its code block, on one line: the model's own words around the call. */
function replyText(reply: string): string {
  const words = reply
    .replace(/```[\s\S]*?(```|$)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return words.length > 160 ? `${words.slice(0, 157)}...` : words;
}

function callText(call: Context): string {
  const args = Array.isArray(call.args) ? call.args.map((a) => JSON.stringify(a)) : [];
  const kwargs = Object.entries((call.kwargs ?? {}) as Context).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${call.api}(${[...args, ...kwargs].join(', ')})`;
}

/** The gist of a multi-line message (AIOpsLab's parse errors open with a bare prefix line). */
function firstLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 2)
    .join(' ');
}
