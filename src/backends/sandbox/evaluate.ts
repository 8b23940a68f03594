/**
 * The evaluation each modelled problem's AIOpsLab eval() performs, with the same result
 * keys and the same quirks (a solution is `args[0]` or the whole args list; "x" and ["x"]
 * match exactly; subset checks use Python's set() of the solution). Mitigation is judged on
 * the model's state after the agent's actions.
 */
import type { Json, JsonObject } from '../../queue/types.ts';
import type { TraceEntry } from '../environment.ts';
import { type Cluster, podReady } from './cluster.ts';
import type { SandboxProblem } from './problems.ts';
import { approximateTokens } from './tokens.ts';
import { deploymentStatus } from './views.ts';

function commonResults(trace: TraceEntry[]): JsonObject {
  const assistant = trace.filter((t) => t.role === 'assistant');
  return {
    steps: assistant.length,
    in_tokens: approximateTokens(
      trace
        .filter((t) => t.role !== 'assistant')
        .map((t) => t.content)
        .join(''),
    ),
    out_tokens: approximateTokens(assistant.map((t) => t.content).join('')),
  };
}

/** Python's `set(value)` for the solution shapes an agent can submit; null when it would raise. */
function pythonSet(value: Json): Set<string> | null {
  if (typeof value === 'string') return new Set([...value]);
  if (Array.isArray(value))
    return value.every((v) => v === null || typeof v !== 'object')
      ? new Set(value.map((v) => JSON.stringify(v)))
      : null;
  if (value && typeof value === 'object') return new Set(Object.keys(value).map((k) => JSON.stringify(k)));
  return null;
}

function pythonLen(value: Json): number {
  if (typeof value === 'string') return [...value].length;
  if (Array.isArray(value)) return value.length;
  if (value && typeof value === 'object') return Object.keys(value).length;
  return 0;
}

function isExactMatch(solution: Json, target: string): boolean {
  const list = Array.isArray(solution) ? solution : [solution];
  return list.length === 1 && list[0] === target;
}

function isSubset(target: string, solution: Json): boolean {
  return pythonSet(solution)?.has(JSON.stringify(target)) ?? false;
}

function detection(problem: SandboxProblem, solution: Json): JsonObject {
  if (typeof solution !== 'string') return { 'Detection Accuracy': 'Invalid Format' };
  const correct = solution.trim().toLowerCase() === problem.expected.detection.toLowerCase();
  return { 'Detection Accuracy': correct ? 'Correct' : 'Incorrect' };
}

function localization(problem: SandboxProblem, solution: Json): JsonObject {
  if (solution === null) return { 'Localization Accuracy': 0.0, success: false, is_subset: false };
  const targets = problem.expected.localization;
  const exact = targets.some((t) => isExactMatch(solution, t));
  const subset = targets.some((t) => isSubset(t, solution));
  const accuracy = exact ? 100.0 : subset ? (1 / pythonLen(solution)) * 100.0 : 0.0;
  return {
    'Localization Accuracy': accuracy,
    success: exact || (subset && pythonLen(solution) === 1),
    is_subset: subset,
  };
}

function matchesLower(value: Json | undefined, expected: string): boolean {
  return typeof value === 'string' && value.trim().toLowerCase() === expected.toLowerCase();
}

function analysis(problem: SandboxProblem, solution: Json): JsonObject {
  if (solution === null || typeof solution !== 'object' || Array.isArray(solution)) {
    return { system_level_correct: false, fault_type_correct: false, success: false };
  }
  const system = matchesLower(solution.system_level ?? '', problem.expected.analysis.system_level);
  const fault = matchesLower(solution.fault_type ?? '', problem.expected.analysis.fault_type);
  return { system_level_correct: system, fault_type_correct: fault, success: system && fault };
}

/** Every pod's containers Running and ready (a Pending pod counts as not normal). */
function allPodsNormal(cluster: Cluster): boolean {
  return cluster.pods.every((pod) => podReady(cluster, pod));
}

const MITIGATION_CHECKS: Record<
  SandboxProblem['expected']['mitigation'],
  (cluster: Cluster, problem: SandboxProblem) => boolean
> = {
  target_port: (cluster, problem) =>
    cluster.services.get(problem.fault.target)?.spec.ports[0]?.targetPort === 9090 && allPodsNormal(cluster),
  scale_pod: (cluster, problem) => {
    const deployment = cluster.deployments.get(problem.fault.target);
    if (!deployment) return false;
    const status = deploymentStatus(cluster, deployment);
    return deployment.spec.replicas === 1 && status.available === 1 && allPodsNormal(cluster);
  },
  pods_ready: (cluster) => cluster.pods.length > 0 && allPodsNormal(cluster),
  pods_normal: allPodsNormal,
  pods_normal_with_target: (cluster, problem) =>
    cluster.pods.some((p) => p.name.includes(problem.fault.target)) && allPodsNormal(cluster),
};

function mitigation(problem: SandboxProblem, cluster: Cluster): JsonObject {
  return { success: MITIGATION_CHECKS[problem.expected.mitigation](cluster, problem) };
}

const TIME_KEYS = { detection: 'TTD', localization: 'TTL', analysis: 'TTA', mitigation: 'TTM' } as const;

/** AIOpsLab's results dict for this problem, in its key order. */
export function evaluateEpisode(
  problem: SandboxProblem,
  solution: Json,
  trace: TraceEntry[],
  durationSeconds: number,
  cluster: Cluster,
): JsonObject {
  const task = problem.task_type;
  const specific =
    task === 'detection'
      ? detection(problem, solution)
      : task === 'localization'
        ? localization(problem, solution)
        : task === 'analysis'
          ? analysis(problem, solution)
          : mitigation(problem, cluster);
  const common = commonResults(trace);
  const time = { [TIME_KEYS[task]]: durationSeconds };
  // Localization adds its accuracy before the common keys and success/is_subset after, and so on.
  if (task === 'detection') return { ...specific, ...time, ...common };
  if (task === 'localization') {
    const { 'Localization Accuracy': accuracy, ...rest } = specific;
    return { 'Localization Accuracy': accuracy ?? 0, ...time, ...common, ...rest };
  }
  if (task === 'analysis') return { ...specific, ...time, ...common };
  return { ...time, ...common, ...specific };
}
