/** `task-executor submit`: one task, many, or a JSON file of tasks; optionally waits with a progress line. */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Task } from '../queue/types.ts';
import type { Client } from './client.ts';
import { followTasks } from './follow.ts';
import { taskLine } from './format.ts';

export interface SubmitOptions {
  file?: string;
  priority?: string;
  backendType?: string;
  maxSteps?: string;
  timeoutMinutes?: string;
  maxAttempts?: string;
  model?: string;
  label: string[];
  idempotencyKey?: string;
  callbackUrl?: string;
  wait?: boolean;
  follow?: boolean;
  json?: boolean;
}

const TERMINAL = new Set(['completed', 'failed', 'timeout', 'cancelled']);

function parseLabels(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`--label expects key=value, got "${p}"`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

function buildTasks(problemIds: string[], o: SubmitOptions, extraLabels: Record<string, string>) {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const labels = { ...parseLabels(o.label), ...extraLabels };
  return problemIds.map((problem_id, i) => ({
    problem_id,
    priority: num(o.priority),
    backend_type: o.backendType,
    max_steps: num(o.maxSteps),
    timeout_minutes: num(o.timeoutMinutes),
    max_attempts: num(o.maxAttempts),
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

export async function submit(client: Client, problemIds: string[], o: SubmitOptions): Promise<void> {
  const batch = randomUUID().slice(0, 8);
  const waitLabel: Record<string, string> = o.wait ? { cli_batch: batch } : {};
  let tasks: Record<string, unknown>[];
  if (o.file) {
    const raw = JSON.parse(await readFile(o.file, 'utf8')) as unknown;
    const list = Array.isArray(raw) ? raw : (raw as { tasks?: unknown[] }).tasks;
    if (!Array.isArray(list))
      throw new Error(`${o.file}: expected a JSON array of tasks or { "tasks": [...] }`);
    tasks = list.map((t) => {
      const task = t as Record<string, unknown>;
      return { ...task, labels: { ...((task.labels as object) ?? {}), ...waitLabel } };
    });
  } else {
    if (problemIds.length === 0) throw new Error('Give one or more problem ids, or --file tasks.json');
    tasks = buildTasks(problemIds, o, waitLabel);
  }
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
    if (!(await followTasks(client, created))) process.exitCode = 1;
  } else if (o.wait) await waitForAll(client, batch, created.length, o.json ?? false);
}

async function waitForAll(client: Client, batch: string, total: number, json: boolean): Promise<void> {
  const tty = process.stderr.isTTY;
  for (;;) {
    const counts: Record<string, number> = {};
    for (const status of ['pending', 'running', 'completed', 'failed', 'timeout', 'cancelled']) {
      const r = await client.get<{ total: number }>(
        `/api/v1/tasks?label=cli_batch:${batch}&status=${status}&limit=1`,
      );
      counts[status] = r.total;
    }
    const done = Object.entries(counts)
      .filter(([s]) => TERMINAL.has(s))
      .reduce((a, [, n]) => a + n, 0);
    const line = `${done}/${total} done  ${Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${s}:${n}`)
      .join(' ')}`;
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    if (done >= total) {
      if (tty) process.stderr.write('\n');
      if (json) console.log(JSON.stringify(counts));
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
