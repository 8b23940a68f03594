/** Backend registry: the worker asks for a backend by its type name. */
import type { Config } from '../config/index.ts';
import { createAiopslabBackend } from './aiopslab/index.ts';

export { serverListedProblems } from './aiopslab/index.ts';

import { CommandBackend } from './command.ts';
import { EpisodeBackend } from './episode-backend.ts';
import { createSandboxEnvironment, SANDBOX_PROBLEMS } from './sandbox/index.ts';
import type { Backend } from './types.ts';

export {
  type BackendOffer,
  backendKnowsProblem,
  cataloguedBackends,
  catalogueOf,
  type ListedProblem,
  type OfferedProblem,
  offeredProblems,
  taskTypeOfId,
} from './catalogue.ts';
export type { Environment, EpisodeStart, ProblemInfo, StepResult, TaskType } from './environment.ts';
export { EnvironmentError, TASK_TYPES } from './environment.ts';
export type { Backend, LlmEndpoint, RunContext, RunOutcome, StopReason } from './types.ts';
export { RunStopped, stopReason } from './types.ts';

// New environments add one line here.
const factories: Record<string, (config: Config) => Backend> = {
  sandbox: (config) =>
    new EpisodeBackend(
      {
        type: 'sandbox',
        catalogue: SANDBOX_PROBLEMS,
        open: (task) => createSandboxEnvironment(task.problem_id),
      },
      config,
    ),
  command: (config) => new CommandBackend(config),
  aiopslab: (config) => createAiopslabBackend(config),
};

export const BACKEND_TYPES: readonly string[] = Object.keys(factories);

export function createBackend(type: string, config: Config): Backend {
  const make = factories[type];
  if (!make)
    throw new Error(`Unknown backend type "${type}": known backend types are ${BACKEND_TYPES.join(', ')}`);
  return make(config);
}
