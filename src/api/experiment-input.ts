/**
 * Experiment request → the grid's cells: problems resolved (ids, globs against the backend
 * catalogues, or a task-type/backend filter), each under every agent config, each cell a task
 * built by toNewTask exactly as a single submit would be.
 */
import type { Static } from 'typebox';
import { cataloguedBackends, catalogueOf } from '../backends/index.ts';
import type { GridCell, NewExperiment } from '../queue/experiments.ts';
import type { JsonObject } from '../queue/types.ts';
import { invalid } from './errors.ts';
import { type ExperimentCreateBody, MAX_EXPERIMENT_TASKS } from './schemas/experiments.ts';
import { type TaskDefaults, toNewTask } from './task-input.ts';

export type ExperimentCreate = Static<typeof ExperimentCreateBody>;

const isGlob = (s: string) => /[*?]/.test(s);

function globRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\/-]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** The catalogued ids to match against: the backend's, or every catalogued backend's. */
function candidateIds(backend: string | null | undefined): string[] {
  const backends = backend ? [backend] : cataloguedBackends();
  return [...new Set(backends.flatMap((b) => (catalogueOf(b) ?? []).map((p) => p.id)))];
}

/** Problem ids in request order, duplicates dropped (a duplicate would only split a group). */
export function resolveProblems(body: ExperimentCreate): string[] {
  const p = body.problems;
  if (!Array.isArray(p)) {
    const backend = p.backend ?? body.backend_type ?? null;
    const backends = backend ? [backend] : cataloguedBackends();
    const ids = backends
      .flatMap((b) => catalogueOf(b) ?? [])
      .filter((x) => p.task_type === undefined || x.task_type === p.task_type)
      .map((x) => x.id);
    if (ids.length === 0)
      throw invalid('problems', `no catalogued problem matches the filter ${JSON.stringify(p)}`, {
        catalogued_backends: cataloguedBackends(),
      });
    return [...new Set(ids)];
  }
  const out: string[] = [];
  for (const item of p) {
    if (!isGlob(item)) {
      out.push(item);
      continue;
    }
    const re = globRegExp(item);
    const matched = candidateIds(body.backend_type).filter((id) => re.test(id));
    if (matched.length === 0)
      throw invalid('problems', `the glob "${item}" matches no catalogued problem`, { glob: item });
    out.push(...matched);
  }
  return [...new Set(out)];
}

export function toNewExperiment(
  body: ExperimentCreate,
  defaults: TaskDefaults,
  createdBy: string,
  idempotencyHeader?: string,
): NewExperiment {
  if (idempotencyHeader !== undefined && body.idempotency_key && body.idempotency_key !== idempotencyHeader)
    throw invalid('idempotency_key', 'differs from the Idempotency-Key header');
  const idempotency_key = body.idempotency_key ?? idempotencyHeader ?? null;
  const problems = resolveProblems(body);
  const total = problems.length * body.agent_configs.length * body.repetitions;
  if (total > MAX_EXPERIMENT_TASKS)
    throw invalid(
      'repetitions',
      `the grid is ${problems.length} problems × ${body.agent_configs.length} agent configs × ${body.repetitions} repetitions = ${total} tasks; at most ${MAX_EXPERIMENT_TASKS}`,
      { tasks: total, max_tasks: MAX_EXPERIMENT_TASKS },
    );
  const { name, problems: _p, agent_configs, repetitions, idempotency_key: _k, ...options } = body;
  const cells: GridCell[] = [];
  for (const problem_id of problems)
    agent_configs.forEach((config, config_index) => {
      cells.push({
        problem_id,
        config_index,
        task: toNewTask({ ...options, problem_id, agent_config: config as JsonObject }, defaults),
      });
    });
  const spec: JsonObject = {
    problems: problems,
    problem_selector: body.problems as JsonObject | string[],
    agent_configs: agent_configs as JsonObject[],
    repetitions,
    options: JSON.parse(JSON.stringify(options)) as JsonObject,
  };
  return { name, spec, cells, repetitions, created_by: createdBy, idempotency_key };
}
