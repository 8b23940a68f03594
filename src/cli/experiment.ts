/**
 * `task-executor experiment create|status|cancel`: a GRPO grid from flags (or a JSON file), and
 * a progress display that refreshes until the experiment has finished (bounded by --timeout).
 */
import { readFileSync } from 'node:fs';
import type { Experiment } from '../queue/experiments.ts';
import type { Client } from './client.ts';

export interface CreateOptions {
  file?: string;
  name?: string;
  problems?: string;
  taskType?: string;
  backend?: string;
  model: string[];
  agentConfig: string[];
  temperature?: string;
  repetitions?: string;
  backendType?: string;
  priority?: string;
  maxSteps?: string;
  timeoutMinutes?: string;
  maxAttempts?: string;
  label: string[];
  policyVersion?: string;
}

const int = (v: string | undefined) => (v === undefined ? undefined : Number(v));

/** The request body: --file as the base, flags on top. */
export function experimentBody(o: CreateOptions): Record<string, unknown> {
  const base = o.file ? (JSON.parse(readFileSync(o.file, 'utf8')) as Record<string, unknown>) : {};
  const configs: Record<string, unknown>[] = [
    ...o.agentConfig.map((c) => JSON.parse(c) as Record<string, unknown>),
    ...o.model.map((model) => ({ model })),
  ];
  if (o.temperature !== undefined) {
    if (configs.length === 0) configs.push({});
    for (const c of configs) c.temperature = Number(o.temperature);
  }
  const problems = o.problems
    ? o.problems.split(',').map((s) => s.trim())
    : o.taskType || o.backend
      ? { ...(o.taskType ? { task_type: o.taskType } : {}), ...(o.backend ? { backend: o.backend } : {}) }
      : undefined;
  const labels = Object.fromEntries(
    o.label.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const flags: Record<string, unknown> = {
    name: o.name,
    problems,
    agent_configs: configs.length ? configs : undefined,
    repetitions: int(o.repetitions),
    backend_type: o.backendType,
    priority: int(o.priority),
    max_steps: int(o.maxSteps),
    timeout_minutes: int(o.timeoutMinutes),
    max_attempts: int(o.maxAttempts),
    labels: o.label.length ? labels : undefined,
    policy_version: int(o.policyVersion),
  };
  const body = { agent_configs: [{}], repetitions: 1, ...base };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) (body as Record<string, unknown>)[k] = v;
  return body;
}

/** One line: status, counts, groups, success rate, tokens, cost, wall time. */
export function progressLine(e: Experiment): string {
  const p = e.progress;
  const s = p.by_status;
  const rate = p.success_rate === null ? '–' : `${(p.success_rate * 100).toFixed(1)}%`;
  const cost = p.cost === null ? '' : ` $${p.cost.toFixed(4)}`;
  const wall = p.wall_seconds === null ? '' : ` ${p.wall_seconds.toFixed(0)}s`;
  return (
    `${e.name} [${e.status}] ${p.finished}/${p.total} done (pending ${s.pending}, running ${s.running}, ` +
    `completed ${s.completed}, failed ${s.failed}, timeout ${s.timeout}, cancelled ${s.cancelled}) ` +
    `groups ${p.groups_complete}/${p.groups_total} success ${rate} tokens ${p.total_tokens}${cost}${wall}`
  );
}

const finished = (e: Experiment) => e.progress.finished === e.progress.total;

/**
 * Prints the progress, then again whenever it changes, until every task has finished or
 * `timeoutSeconds` has passed. Resolves with the last reading.
 */
export async function watchExperiment(
  client: Client,
  id: string,
  o: { watch: boolean; intervalMs: number; timeoutSeconds: number },
  print: (line: string) => void = console.log,
): Promise<Experiment> {
  const until = Date.now() + o.timeoutSeconds * 1000;
  let last = '';
  for (;;) {
    const e = await client.get<Experiment>(`/api/v1/experiments/${encodeURIComponent(id)}`);
    const line = progressLine(e);
    if (line !== last) print(line);
    last = line;
    if (!o.watch || finished(e)) return e;
    if (Date.now() >= until) {
      print(`stopped watching after ${o.timeoutSeconds}s; the experiment goes on`);
      return e;
    }
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
}
