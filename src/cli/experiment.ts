/**
 * `task-executor experiment create|status|cancel`: a GRPO grid from flags (or a JSON file), and
 * a progress display that refreshes until the experiment has finished (bounded by --timeout).
 */
import { readFileSync } from 'node:fs';
import type { Experiment } from '../queue/experiments.ts';
import type { Client } from './client.ts';
import { UsageError } from './exit.ts';

export interface CreateOptions {
  file?: string;
  name?: string;
  problems?: string;
  taskType?: string;
  backend?: string;
  model: string[];
  agentConfig: string[];
  /** Numbers are checked by the flag parsers (src/cli/numbers.ts) before they get here. */
  temperature?: number;
  repetitions?: number;
  backendType?: string;
  priority?: number;
  maxSteps?: number;
  timeoutMinutes?: number;
  maxAttempts?: number;
  label: string[];
  policyVersion?: number;
}

/** JSON from a flag or a file; a mistake in it is the command line's (exit 2), named by where it came from. */
function parseJson(text: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UsageError(`${where}: expected a JSON object`);
  return value as Record<string, unknown>;
}

function readBodyFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  return parseJson(text, file);
}

/** The request body: --file as the base, flags on top. */
export function experimentBody(o: CreateOptions): Record<string, unknown> {
  const base = o.file ? readBodyFile(o.file) : {};
  const configs: Record<string, unknown>[] = [
    ...o.agentConfig.map((c) => parseJson(c, '--agent-config')),
    ...o.model.map((model) => ({ model })),
  ];
  if (o.temperature !== undefined) {
    if (configs.length === 0) configs.push({});
    for (const c of configs) c.temperature = o.temperature;
  }
  const problems = o.problems
    ? o.problems.split(',').map((s) => s.trim())
    : o.taskType || o.backend
      ? { ...(o.taskType ? { task_type: o.taskType } : {}), ...(o.backend ? { backend: o.backend } : {}) }
      : undefined;
  const labels = Object.fromEntries(o.label.map(labelPair));
  const flags: Record<string, unknown> = {
    name: o.name,
    problems,
    agent_configs: configs.length ? configs : undefined,
    repetitions: o.repetitions,
    backend_type: o.backendType,
    priority: o.priority,
    max_steps: o.maxSteps,
    timeout_minutes: o.timeoutMinutes,
    max_attempts: o.maxAttempts,
    labels: o.label.length ? labels : undefined,
    policy_version: o.policyVersion,
  };
  const body = { agent_configs: [{}], repetitions: 1, ...base };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) (body as Record<string, unknown>)[k] = v;
  return body;
}

/** `key=value`; without an '=' it was silently a label with an empty key before. */
function labelPair(text: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`--label expects key=value, got "${text}"`);
  return [text.slice(0, at), text.slice(at + 1)];
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
