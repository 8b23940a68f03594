/**
 * The episode runner: drives one environment and one agent turn by turn, the way AIOpsLab's
 * `Orchestrator.start_problem` does, and turns the episode into a task outcome.
 *
 *   start → loop { agent reply (through the gateway) → step } until the environment ends
 *   the episode or max_steps is used up → finish (evaluation) → completed with the result
 *
 * A wrong answer is a completed episode with its score. Failures are data too, with a code:
 * `llm_error` (the model could not be reached; retryable when the error was transient),
 * `invalid_agent_config`, or the environment's own code (EnvironmentError). Each step, retry
 * and phase is a task log entry, so a running episode can be followed live.
 */
import { LlmCallError } from '../agent/index.ts';
import type { Json, JsonObject, LogLevel } from '../queue/types.ts';
import {
  type Environment,
  EnvironmentError,
  type EpisodeEvaluation,
  type EpisodeStart,
  type StepResult,
  type TraceEntry,
} from './environment.ts';
import type { RunOutcome } from './types.ts';

/** What the runner needs of an agent: GatewayAgent fits. */
export interface EpisodeAgent {
  init(problem: Pick<EpisodeStart, 'task_description' | 'instructions' | 'apis'>): void;
  getAction(input: string): Promise<string>;
  readonly conversationId: string | null;
  readonly usage: Readonly<{
    calls: number;
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
  }>;
}

export interface LlmRetryPolicy {
  /** Tries after the first one for a transient LLM error (429, 5xx, dropped connection). */
  retries: number;
  /** First backoff; doubles per try, with jitter. */
  backoffMs: number;
}

export interface EpisodeRun {
  problemId: string;
  backend: string;
  model: string;
  maxSteps: number;
  environment: Environment;
  agent: EpisodeAgent;
  signal: AbortSignal;
  retry: LlmRetryPolicy;
  log(level: LogLevel, message: string, context?: Json): void;
  now?: () => number;
}

export type EndReason = 'submitted' | 'max_steps' | 'environment_ended';

/** How much of a reply and of an observation a step's log entry keeps. */
const REPLY_LOG_CHARS = 2000;
const OBSERVATION_HEAD_CHARS = 500;
/**
 * Largest session trace kept whole in the result. A remote worker sends the result in one
 * request (BODY_LIMIT_BYTES, 1 MiB by default), and a model that dumps `kubectl get -o json`
 * a few times outgrows that; every message is in the gateway's conversation anyway.
 */
export const TRACE_RESULT_MAX_CHARS = 256 * 1024;
const TRACE_ENTRY_MIN_CHARS = 2000;

/** Runs the whole episode; never rejects (an abort returns a `stopped` failure for the worker to judge). */
export async function runEpisode(run: EpisodeRun): Promise<RunOutcome> {
  const episode = new Episode(run);
  try {
    return await episode.play();
  } catch (err) {
    return episode.failure(err);
  } finally {
    await run.environment.cancel().catch((err: unknown) => {
      run.log('warning', `environment cleanup failed: ${(err as Error)?.message ?? err}`, {
        phase: 'cleanup',
      });
    });
  }
}

class Episode {
  private steps = 0;
  private retries = 0;
  private readonly now: () => number;
  private readonly startedAt: number;

  constructor(private readonly run: EpisodeRun) {
    this.now = run.now ?? Date.now;
    this.startedAt = this.now();
  }

  async play(): Promise<RunOutcome> {
    const { run } = this;
    run.log('info', `setup: starting ${run.problemId} (${run.backend})`, { phase: 'setup' });
    const start = await run.environment.start(run.signal);
    run.agent.init(start);
    run.log('info', `running: ${start.task_type} task, up to ${run.maxSteps} steps, model ${run.model}`, {
      phase: 'running',
      task_type: start.task_type,
      apis: Object.keys(start.apis),
      max_steps: run.maxSteps,
      model: run.model,
    });
    const endReason = await this.loop(start.first_input);
    run.log('info', `evaluation: episode ended (${endReason}) after ${this.steps} steps`, {
      phase: 'evaluation',
      end_reason: endReason,
      steps: this.steps,
    });
    const evaluation = await run.environment.finish(run.signal);
    run.log('info', `results: ${summarize(evaluation.results)}`, {
      phase: 'evaluation',
      results: evaluation.results,
    });
    return { status: 'completed', result: this.result(start, endReason, evaluation) };
  }

  private async loop(firstInput: string): Promise<EndReason> {
    let input = firstInput;
    while (this.steps < this.run.maxSteps) {
      const began = this.now();
      const reply = await this.askAgent(input);
      const llmMs = this.now() - began;
      const step = await this.run.environment.step(reply, this.run.signal);
      this.steps = step.step;
      this.logStep(reply, step, llmMs, this.now() - began);
      if (step.done) return step.submitted ? 'submitted' : 'environment_ended';
      input = step.next_input;
    }
    return 'max_steps';
  }

  /** The agent's reply, retrying transient LLM errors with backoff; each try is a gateway call. */
  private async askAgent(input: string): Promise<string> {
    const { retries, backoffMs } = this.run.retry;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.run.agent.getAction(input);
      } catch (err) {
        this.run.signal.throwIfAborted();
        if (!(err instanceof LlmCallError) || !err.retryable || attempt >= retries) throw err;
        this.retries++;
        const delay = Math.round(backoffMs * 2 ** attempt * (0.5 + Math.random() / 2));
        this.run.log(
          'warning',
          `LLM call failed (${err.message}); retry ${attempt + 1}/${retries} in ${delay} ms`,
          {
            phase: 'running',
            step: this.steps + 1,
            llm_error: llmErrorDetails(err),
            retry: attempt + 1,
            delay_ms: delay,
          },
        );
        await sleep(delay, this.run.signal);
      }
    }
  }

  private logStep(reply: string, step: StepResult, llmMs: number, durationMs: number): void {
    const what = step.call ? describeCall(step) : `parse error: ${firstLine(step.parse_error ?? '')}`;
    this.run.log(
      step.parse_error ? 'warning' : 'info',
      `step ${step.step}: ${what} → ${step.observation.length} chars`,
      {
        phase: 'running',
        step: step.step,
        reply: cut(reply, REPLY_LOG_CHARS),
        call: step.call ? { api: step.call.api, args: step.call.args, kwargs: step.call.kwargs } : null,
        parse_error: step.parse_error,
        submitted: step.submitted,
        observation_chars: step.observation.length,
        observation_head: cut(step.observation, OBSERVATION_HEAD_CHARS),
        llm_ms: Math.round(llmMs),
        duration_ms: Math.round(durationMs),
      },
    );
  }

  private result(start: EpisodeStart, endReason: EndReason, evaluation: EpisodeEvaluation): JsonObject {
    const { run } = this;
    return {
      problem_id: run.problemId,
      task_type: start.task_type,
      backend: run.backend,
      model: run.model,
      results: evaluation.results,
      steps: this.steps,
      end_reason: endReason,
      solution: evaluation.solution,
      conversation_id: run.agent.conversationId,
      usage: { ...run.agent.usage, llm_retries: this.retries },
      duration_seconds: (this.now() - this.startedAt) / 1000,
      ...boundedTrace(evaluation.trace),
      ...(evaluation.session ? { session: evaluation.session } : {}),
    };
  }

  /** An exception as an outcome: the code, what was done so far, retryable when worth another attempt. */
  failure(err: unknown): RunOutcome {
    const progress: JsonObject = {
      problem_id: this.run.problemId,
      steps: this.steps,
      conversation_id: this.run.agent.conversationId,
      llm_retries: this.retries,
    };
    if (this.run.signal.aborted)
      return { status: 'failed', error: { reason: 'stopped', message: 'Episode stopped', ...progress } };
    if (err instanceof LlmCallError) {
      this.run.log('error', `LLM error: ${err.message}`, {
        phase: 'running',
        llm_error: llmErrorDetails(err),
      });
      return {
        status: 'failed',
        retryable: err.retryable,
        error: { reason: 'llm_error', message: err.message, llm_error: llmErrorDetails(err), ...progress },
      };
    }
    if (err instanceof EnvironmentError) {
      this.run.log('error', `environment error (${err.code}): ${err.message}`, { phase: 'running' });
      return {
        status: 'failed',
        retryable: err.retryable,
        error: { reason: err.code, message: err.message, ...err.details, ...progress },
      };
    }
    const message = err instanceof Error ? err.message : String(err);
    this.run.log('error', `episode failed: ${message}`, { phase: 'running' });
    return { status: 'failed', error: { reason: 'episode_error', message, ...progress } };
  }
}

/**
 * The trace as it is when small enough, else every entry cut to an equal share of the budget
 * (`trace_truncated: true`; the conversation holds the full text of every message).
 */
export function boundedTrace(trace: readonly TraceEntry[]): JsonObject {
  const total = trace.reduce((n, t) => n + t.content.length, 0);
  if (total <= TRACE_RESULT_MAX_CHARS) return { trace: trace as unknown as Json };
  const share = Math.max(
    TRACE_ENTRY_MIN_CHARS,
    Math.floor(TRACE_RESULT_MAX_CHARS / Math.max(1, trace.length)),
  );
  return {
    trace: trace.map((t) => ({ role: t.role, content: cut(t.content, share) })),
    trace_truncated: true,
  };
}

function llmErrorDetails(err: LlmCallError): JsonObject {
  return { status: err.status, code: err.code, type: err.type, detail: err.detail, retryable: err.retryable };
}

function describeCall(step: StepResult): string {
  const call = step.call!;
  const args = call.args.map((a) => JSON.stringify(a));
  const kwargs = Object.entries(call.kwargs).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return cut(`${call.api}(${[...args, ...kwargs].join(', ')})`, 200);
}

/** `Detection Accuracy: Correct, TTD: 1.2, steps: 4` for the log line. */
function summarize(results: JsonObject): string {
  return Object.entries(results)
    .map(([k, v]) => `${k}: ${typeof v === 'number' ? Math.round(v * 1000) / 1000 : JSON.stringify(v)}`)
    .join(', ');
}

/** The gist of a multi-line message (AIOpsLab's parse errors open with a bare prefix line). */
function firstLine(text: string): string {
  const gist = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 2)
    .join(' ');
  return cut(gist, 200);
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)} …[${text.length - max} more chars]` : text;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
