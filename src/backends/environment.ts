/**
 * The environment protocol: what an episode's environment offers the episode runner
 * (episode.ts). An episode is the environment and an agent taking turns:
 *
 *   start() → the problem as the agent first sees it (AIOpsLab's init_problem)
 *   step(reply) → the observation for one agent reply (parsed, run, framed as the next input)
 *   finish() → the evaluation (AIOpsLab's results keys) and the session trace
 *   cancel() → stop now, undo what was injected, free resources (idempotent)
 *
 * Built-in environments (the sandbox) implement it in TypeScript; the AIOpsLab bridge
 * implements it out of process over JSON lines on stdio, one message per call and answer.
 * So every value here is plain JSON, and the environment owns the framing of what the
 * agent reads (`first_input`, `next_input`): the runner never builds orchestrator text.
 */
import type { Json, JsonObject } from '../queue/types.ts';

export const TASK_TYPES = ['detection', 'localization', 'analysis', 'mitigation'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

/** What `Orchestrator.init_problem` returns, plus the first input the agent gets. */
export interface EpisodeStart {
  problem_id: string;
  task_type: TaskType;
  /** System-prompt material: the task description with the service summary. */
  task_description: string;
  instructions: string;
  /** API name → its docstring, in the order the environment lists them. */
  apis: Record<string, string>;
  /** The first input of the loop: AIOpsLab's "Please take the next action". */
  first_input: string;
}

/** An API call parsed out of a reply: `api_name(args, kwargs)`. */
export interface ParsedCall {
  api: string;
  args: Json[];
  kwargs: JsonObject;
}

/** The environment's answer to one agent reply. */
export interface StepResult {
  /** 1-based: how many replies this episode has taken so far, this one included. */
  step: number;
  /** The environment's response to the reply, exactly as the session trace records it. */
  observation: string;
  /** What the agent gets next (observation framed with the next-action prompt). */
  next_input: string;
  /** The call the reply made, or null when it did not parse. */
  call: ParsedCall | null;
  /** The parse error text (it is also the observation), or null. */
  parse_error: string | null;
  /** The reply was a valid `submit(...)`. */
  submitted: boolean;
  /** The environment ended the episode (a submission, or its own step limit). */
  done: boolean;
}

/** One entry of the session trace: the agent's reply or the environment's response. */
export interface TraceEntry {
  role: 'assistant' | 'env';
  content: string;
}

export interface EpisodeEvaluation {
  /** AIOpsLab's keys for the task type (e.g. `Detection Accuracy`, `TTD`, `steps`, `in_tokens`). */
  results: JsonObject;
  trace: TraceEntry[];
  /** The solution as submitted (null when there was none). */
  solution: Json;
  /** Anything else the environment reports (session id, times, the bridge's session file). */
  session?: JsonObject;
}

/**
 * A protocol or infrastructure failure of the environment: the task fails with `code`
 * (retryable when another attempt could succeed, e.g. a cluster setup that timed out).
 * A wrong answer is never an EnvironmentError: it is a completed episode with its score.
 */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = false,
    readonly details: JsonObject = {},
  ) {
    super(message);
  }
}

export interface Environment {
  /** Sets the problem up; rejects with EnvironmentError when it cannot be run. */
  start(signal: AbortSignal): Promise<EpisodeStart>;
  step(reply: string, signal: AbortSignal): Promise<StepResult>;
  /** Evaluates what the agent did (also after the step limit, with no solution). */
  finish(signal: AbortSignal): Promise<EpisodeEvaluation>;
  /** Stops whatever runs and undoes the injected fault; safe to call at any time, more than once. */
  cancel(): Promise<void>;
}

/** A problem an environment offers, as `GET /api/v1/problems` lists it. */
export interface ProblemInfo {
  id: string;
  task_type: TaskType;
  /** The application it runs on, e.g. `hotel-reservation`. */
  app: string;
  description: string;
}
