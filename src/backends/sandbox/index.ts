/**
 * The built-in `sandbox` environment: simulated AIOpsLab incidents that need no cluster.
 * It speaks AIOpsLab's language exactly (prompts, parser, actions, observations, results)
 * over a deterministic model of the app, its Kubernetes objects and the injected fault.
 */
import { type Environment, EnvironmentError, type ProblemInfo } from '../environment.ts';
import { SandboxEnvironment } from './environment.ts';
import { CATALOGUE, findProblem } from './problems.ts';

export const SANDBOX_PROBLEMS: readonly ProblemInfo[] = CATALOGUE.map(
  ({ id, task_type, app, description }) => ({
    id,
    task_type,
    app,
    description,
  }),
);

export function findSandboxProblem(id: string): ProblemInfo | undefined {
  return SANDBOX_PROBLEMS.find((problem) => problem.id === id);
}

export function createSandboxEnvironment(
  problemId: string,
  options: { now?: () => number } = {},
): Environment {
  const problem = findProblem(problemId);
  if (!problem)
    throw new EnvironmentError('unknown_problem', `unknown sandbox problem: ${problemId}`, false, {
      problem_id: problemId,
    });
  return new SandboxEnvironment(problem, options.now);
}
