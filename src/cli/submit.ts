/** `task-executor submit`: one task, many, or a JSON file of tasks; optionally waits with a progress line. */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Task } from '../queue/types.ts';
import type { Client } from './client.ts';
import { EXIT_ERROR, UsageError } from './exit.ts';
import { followTasks } from './follow.ts';
import { taskLine } from './format.ts';
import { batchOf, failureLines, notCompleted, waitForBatch, waitSummary } from './wait.ts';

export interface SubmitOptions {
  file?: string;
  /** Numbers are checked by the flag parsers (src/cli/numbers.ts) before they get here. */
  priority?: number;
  backendType?: string;
  maxSteps?: number;
  timeoutMinutes?: number;
  maxAttempts?: number;
  model?: string;
  label: string[];
  idempotencyKey?: string;
  callbackUrl?: string;
  wait?: boolean;
  follow?: boolean;
  json?: boolean;
}

function parseLabels(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new UsageError(`--label expects key=value, got "${p}"`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

function buildTasks(problemIds: string[], o: SubmitOptions, extraLabels: Record<string, string>) {
  const labels = { ...parseLabels(o.label), ...extraLabels };
  return problemIds.map((problem_id, i) => ({
    problem_id,
    priority: o.priority,
    backend_type: o.backendType,
    max_steps: o.maxSteps,
    timeout_minutes: o.timeoutMinutes,
    max_attempts: o.maxAttempts,
    callback_url: o.callbackUrl,
    agent_config: o.model ? { model: o.model } : undefined,
    labels: Object.keys(labels).length ? labels : undefined,
    idempotency_key: o.idempotencyKey
      ? problemIds.length > 1
        ? `${o.idempotencyKey}-${i}`
        : o.idempotencyKey
      : undefined,
  }));
}

/** Submits, then optionally follows or waits; sets exit status 1 unless every task completed. */
export async function submit(client: Client, problemIds: string[], o: SubmitOptions): Promise<void> {
  const batch = randomUUID().slice(0, 8);
  const waitLabel: Record<string, string> = o.wait ? { cli_batch: batch } : {};
  const tasks = o.file ? await tasksFromFile(o.file, waitLabel) : tasksFromFlags(problemIds, o, waitLabel);
  const created: Task[] = [];
  for (let i = 0; i < tasks.length; i += 1000) {
    const r = await client.post<{ tasks: Task[] }>('/api/v1/tasks/batch', {
      tasks: tasks.slice(i, i + 1000),
    });
    created.push(...r.tasks);
  }
  if (o.json && !o.wait && !o.follow) console.log(JSON.stringify(created, null, 2));
  else if (!o.json) for (const t of created) console.log(taskLine(t));
  if (o.follow) {
    // Exit status 1 when a followed task did not complete, so scripts can tell.
    if (!(await followTasks(client, created))) process.exitCode = EXIT_ERROR;
  } else if (o.wait) {
    const state = await waitForBatch(client, batchOf(batch, created), created.length, {
      intervalMs: 1000,
      progress: process.stderr,
    });
    if (o.json) console.log(JSON.stringify(waitSummary(state), null, 2));
    else for (const line of failureLines(state)) console.log(line);
    if (notCompleted(state).length > 0) process.exitCode = EXIT_ERROR;
  }
}

function tasksFromFlags(problemIds: string[], o: SubmitOptions, waitLabel: Record<string, string>) {
  if (problemIds.length === 0) throw new UsageError('Give one or more problem ids, or --file tasks.json');
  return buildTasks(problemIds, o, waitLabel);
}

/** An unreadable or malformed file is the command line's fault: exit 2, with the file named. */
async function tasksFromFile(file: string, waitLabel: Record<string, string>) {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  const list = Array.isArray(raw) ? raw : (raw as { tasks?: unknown[] } | null)?.tasks;
  if (!Array.isArray(list))
    throw new UsageError(`${file}: expected a JSON array of tasks or { "tasks": [...] }`);
  return list.map((t) => {
    const task = t as Record<string, unknown>;
    return { ...task, labels: { ...((task.labels as object) ?? {}), ...waitLabel } };
  });
}
