/**
 * The sandbox Environment: one simulated incident per instance, driven turn by turn the
 * way AIOpsLab's Orchestrator drives a problem (init_problem → ask_env per reply → eval).
 */
import type { Json, JsonObject } from '../../queue/types.ts';
import {
  type Environment,
  EnvironmentError,
  type EpisodeEvaluation,
  type EpisodeStart,
  type ParsedCall,
  type StepResult,
  type TraceEntry,
} from '../environment.ts';
import { type ActionContext, actionsFor, performAction, VALID_SUBMISSION } from './actions.ts';
import { APP_SUMMARIES, TASK_TEXT } from './aiopslab-text.ts';
import { Cluster, reconcile } from './cluster.ts';
import { evaluateEpisode } from './evaluate.ts';
import { injectFault } from './faults.ts';
import { seededUuid } from './hash.ts';
import { parseResponse, ResponseParsingError } from './parser.ts';
import type { SandboxProblem } from './problems.ts';
import { Telemetry } from './telemetry.ts';

const NEXT_ACTION = 'Please take the next action';
/**
 * What AIOpsLab's session trace holds for a valid submit: the orchestrator adds the
 * SubmissionStatus.VALID_SUBMISSION enum as the env content, and pydantic's str field
 * coerces it to its value, "1".
 */
export const SUBMISSION_TRACE_CONTENT = '1';

export class SandboxEnvironment implements Environment {
  private cluster: Cluster | null = null;
  private telemetry: Telemetry | null = null;
  private readonly actions;
  private readonly trace: TraceEntry[] = [];
  private solution: Json = null;
  private steps = 0;
  private startedAt = 0;
  private endedAt: number | null = null;
  private done = false;
  private cancelled = false;

  constructor(
    private readonly problem: SandboxProblem,
    private readonly now: () => number = Date.now,
  ) {
    this.actions = actionsFor(problem.task_type);
  }

  async start(signal: AbortSignal): Promise<EpisodeStart> {
    this.assertLive(signal);
    const cluster = new Cluster(this.problem.aiopslabId, this.problem.appSpec);
    injectFault(cluster, this.problem.fault);
    this.cluster = cluster;
    this.telemetry = new Telemetry(cluster);
    this.startedAt = this.now();
    const text = TASK_TEXT[this.problem.task_type];
    const summary = APP_SUMMARIES[this.problem.app] ?? '';
    return {
      problem_id: this.problem.id,
      task_type: this.problem.task_type,
      task_description: text.descriptionTemplate.replace('{app_summary}', summary),
      instructions: text.instructions,
      apis: { ...text.apis },
      first_input: NEXT_ACTION,
    };
  }

  async step(reply: string, signal: AbortSignal): Promise<StepResult> {
    this.assertLive(signal);
    const context = this.context();
    if (this.done)
      throw new EnvironmentError('episode_done', 'the episode has ended (a valid submission was made)');
    this.steps += 1;
    context.cluster.clock.advance();
    reconcile(context.cluster);
    this.trace.push({ role: 'assistant', content: reply });
    let call: ParsedCall | null = null;
    let parseError: string | null = null;
    let observation: string;
    let submitted = false;
    try {
      call = parseResponse(reply);
      ({ observation, submitted } = this.run(call, context));
    } catch (error) {
      if (!(error instanceof ResponseParsingError)) throw error;
      parseError = error.message;
      observation = error.message;
    }
    this.trace.push({ role: 'env', content: observation });
    if (submitted) {
      this.done = true;
      this.endedAt = this.now();
    }
    return {
      step: this.steps,
      observation,
      next_input: submitted ? '' : `${observation}\n${NEXT_ACTION}`,
      call,
      parse_error: parseError,
      submitted,
      done: submitted,
    };
  }

  /** ask_env after parsing: record a submit's solution first, then perform the action. */
  private run(call: ParsedCall, context: ActionContext): { observation: string; submitted: boolean } {
    if (call.api === 'submit') this.solution = call.args.length === 1 ? call.args[0]! : call.args;
    try {
      const result = performAction(this.actions, context, call.api, call.args, call.kwargs);
      if (result === null) return { observation: `Invalid action: ${call.api}`, submitted: false };
      if (result === VALID_SUBMISSION) return { observation: SUBMISSION_TRACE_CONTENT, submitted: true };
      return { observation: result, submitted: false };
    } catch (error) {
      // AIOpsLab returns str(e) of an unhandled exception as the observation.
      return { observation: error instanceof Error ? error.message : String(error), submitted: false };
    }
  }

  async finish(signal: AbortSignal): Promise<EpisodeEvaluation> {
    this.assertLive(signal);
    const context = this.context();
    const ended = this.endedAt ?? this.now();
    this.endedAt = ended;
    const duration = Math.max(0, (ended - this.startedAt) / 1000);
    const results = evaluateEpisode(this.problem, this.solution, this.trace, duration, context.cluster);
    const session: JsonObject = {
      problem_id: this.problem.id,
      aiopslab_problem_id: this.problem.aiopslabId,
      session_id: seededUuid(`session:${this.problem.id}`),
      start_time: this.startedAt / 1000,
      end_time: ended / 1000,
      environment: 'sandbox',
    };
    return { results, trace: this.trace.map((t) => ({ ...t })), solution: this.solution, session };
  }

  async cancel(): Promise<void> {
    this.cancelled = true;
  }

  private assertLive(signal: AbortSignal): void {
    if (this.cancelled || signal.aborted)
      throw new EnvironmentError('cancelled', 'the sandbox episode was cancelled');
  }

  private context(): ActionContext {
    if (!this.cluster || !this.telemetry)
      throw new EnvironmentError('not_started', 'start() must be called first');
    return { cluster: this.cluster, telemetry: this.telemetry };
  }
}
