/**
 * The problems each built-in backend can run, known without starting anything: what workers
 * advertise as supported_problems, what `GET /api/v1/problems` lists, and what a submit naming
 * that backend is checked against. Backends without a catalogue (`command`) run any id.
 */
import type { ProblemInfo, TaskType } from './environment.ts';
import { TASK_TYPES } from './environment.ts';
import { SANDBOX_PROBLEMS } from './sandbox/index.ts';

const CATALOGUES: Readonly<Record<string, readonly ProblemInfo[]>> = {
  sandbox: SANDBOX_PROBLEMS,
};

/** The backend's problems, or null when it runs any id (or is not built in). */
export function catalogueOf(backend: string): readonly ProblemInfo[] | null {
  return Object.hasOwn(CATALOGUES, backend) ? CATALOGUES[backend]! : null;
}

export function cataloguedBackends(): string[] {
  return Object.keys(CATALOGUES);
}

/** false: the backend has a catalogue and the id is not in it; null: nothing to check against. */
export function backendKnowsProblem(backend: string, problemId: string): boolean | null {
  const problems = catalogueOf(backend);
  return problems ? problems.some((p) => p.id === problemId) : null;
}

/** AIOpsLab ids name their task type (`…-detection-1`, `noop_detection_…`); null when they do not. */
export function taskTypeOfId(problemId: string): TaskType | null {
  return TASK_TYPES.find((t) => problemId.includes(t)) ?? null;
}

export interface OfferedProblem {
  id: string;
  backend: string;
  task_type: TaskType | null;
  app: string | null;
  description: string | null;
  /** Where an AIOpsLab problem runs (`k8s`, `docker`), when the server listed it itself. */
  deployment: string | null;
}

/** A problem the server learnt by running a backend's own list (the AIOpsLab bridge's list mode). */
export interface ListedProblem {
  id: string;
  task_type: string;
  deployment: string;
}

export interface BackendOffer {
  backend: string;
  /** Live workers of this backend right now. */
  live_workers: number;
  /** True when some live worker of it takes any problem id (advertises none). */
  any_problem: boolean;
  /** Globs advertised by its live workers (not listed as problems). */
  patterns: string[];
  problems: number;
}

/**
 * Every problem a backend offers: the built-in catalogues (whether or not a worker runs them
 * now), the lists the server got from backends it can ask itself (`listed`: the AIOpsLab
 * bridge's, with task type and deployment), then the exact ids live workers advertise beyond
 * those (a remote AIOpsLab worker's list, say), with the task type read from the id.
 */
export function offeredProblems(
  liveWorkers: readonly { backend_type: string; supported_problems: readonly string[] }[],
  listed: Readonly<Record<string, readonly ListedProblem[]>> = {},
): { problems: OfferedProblem[]; backends: BackendOffer[] } {
  const problems: OfferedProblem[] = [];
  const offers = new Map<string, BackendOffer>();
  const offer = (backend: string) => {
    let o = offers.get(backend);
    if (!o) {
      o = { backend, live_workers: 0, any_problem: false, patterns: [], problems: 0 };
      offers.set(backend, o);
    }
    return o;
  };
  for (const [backend, list] of Object.entries(CATALOGUES)) {
    offer(backend).problems = list.length;
    for (const p of list) problems.push({ ...p, backend, deployment: null });
  }
  for (const [backend, list] of Object.entries(listed)) {
    if (catalogueOf(backend)) continue;
    offer(backend).problems += list.length;
    for (const p of list) {
      const task_type = TASK_TYPES.find((t) => t === p.task_type) ?? taskTypeOfId(p.id);
      problems.push({ id: p.id, backend, task_type, app: null, description: null, deployment: p.deployment });
    }
  }
  const seen = new Set(problems.map((p) => `${p.backend}\n${p.id}`));
  for (const w of liveWorkers) {
    const o = offer(w.backend_type);
    o.live_workers++;
    if (w.supported_problems.length === 0) o.any_problem = true;
    if (catalogueOf(w.backend_type)) continue;
    for (const id of w.supported_problems) {
      if (/[*?]/.test(id)) {
        if (!o.patterns.includes(id)) o.patterns.push(id);
        continue;
      }
      if (seen.has(`${w.backend_type}\n${id}`)) continue;
      seen.add(`${w.backend_type}\n${id}`);
      o.problems++;
      problems.push({
        id,
        backend: w.backend_type,
        task_type: taskTypeOfId(id),
        app: null,
        description: null,
        deployment: null,
      });
    }
  }
  return { problems, backends: [...offers.values()].sort((a, b) => a.backend.localeCompare(b.backend)) };
}
