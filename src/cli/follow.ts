/**
 * `submit --follow`: prints each task's episode as it happens — phases, every step's reply,
 * parsed call and observation head, retries and errors — then its evaluation. The entries come
 * from the task's log stream (Server-Sent Events, resumed by cursor after a dropped
 * connection), so nothing is printed twice or skipped. While a task waits with no worker able
 * to run it, the reason is shown (the task is read every few seconds for that).
 *
 * At most STREAMS_AT_ONCE tasks are followed at a time, in submission order; a later task's
 * stream starts at its first entry, so its episode is printed whole when its turn comes.
 */
import type { Json, Task, TaskLog } from '../queue/types.ts';
import type { Client } from './client.ts';
import { errorSummary } from './format.ts';
import { pause, readStream, type StreamOptions } from './sse.ts';

const STREAMS_AT_ONCE = 16;
const WAITING_POLL_MS = 2_000;
const OBSERVATION_LINES = 8;

type TaskDetail = Task & { waiting_reason?: string | null };
type Context = Record<string, Json>;
type Print = (line: string) => void;

/** Follows the tasks until every one has ended; resolves true when all completed. */
export async function followTasks(
  client: Pick<Client, 'get' | 'open'>,
  tasks: readonly Task[],
  print: Print = console.log,
  stream: StreamOptions = {},
): Promise<boolean> {
  const todo = [...tasks];
  let allCompleted = true;
  // One lost stream fails the whole follow; the others stop instead of running on unseen.
  const failed = new AbortController();
  const signal = stream.signal ? AbortSignal.any([stream.signal, failed.signal]) : failed.signal;
  const follower = async () => {
    for (let t = todo.shift(); t && !signal.aborted; t = todo.shift()) {
      const prefix = tasks.length > 1 ? `[${t.id.slice(0, 8)}] ` : '';
      const status = await followTask(client, t.id, (line) => print(`${prefix}${line}`), {
        ...stream,
        signal,
      }).catch((err: unknown) => {
        failed.abort();
        throw err;
      });
      if (status !== 'completed') allCompleted = false;
    }
  };
  await Promise.all(Array.from({ length: Math.min(STREAMS_AT_ONCE, tasks.length) }, follower));
  return allCompleted && !signal.aborted;
}

/** Prints one task's episode and outcome; resolves with its final status (null when stopped). */
async function followTask(
  client: Pick<Client, 'get' | 'open'>,
  id: string,
  print: Print,
  stream: StreamOptions,
): Promise<string | null> {
  const stopWaiting = new AbortController();
  const waiting = showWaiting(client, id, print, stopWaiting.signal);
  try {
    for await (const e of readStream(client, `/api/v1/tasks/${id}/logs/stream`, stream)) {
      if (e.event === 'log') for (const line of episodeLines(e.data as TaskLog)) print(line);
      // Sent once the task is terminal and every entry (the finish's own included) was sent.
      else if (e.event === 'end') break;
    }
  } finally {
    stopWaiting.abort();
    await waiting;
  }
  if (stream.signal?.aborted) return null;
  const task = await client.get<Task>(`/api/v1/tasks/${id}`);
  for (const line of outcomeLines(task)) print(line);
  return task.status;
}

/** Prints "waiting: <reason>" whenever a pending task's reason for having no taker changes. */
async function showWaiting(
  client: Pick<Client, 'get'>,
  id: string,
  print: Print,
  signal: AbortSignal,
): Promise<void> {
  let shown: string | null = null;
  while (!signal.aborted) {
    try {
      const task = await client.get<TaskDetail>(`/api/v1/tasks/${id}`);
      const reason = task.waiting_reason ?? null;
      if (!signal.aborted && task.status === 'pending' && reason && reason !== shown)
        print(`waiting: ${reason}`);
      shown = reason;
    } catch {
      // Only a hint: the log stream reports a server that stays unreachable.
    }
    await pause(WAITING_POLL_MS, signal);
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
