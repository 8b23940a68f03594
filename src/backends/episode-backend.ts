/**
 * A backend whose runs are episodes: one environment per attempt (from `open`), the built-in
 * agent (GatewayAgent, configured by the task's agent_config) calling the model through the
 * recording gateway, and the episode runner between them. The sandbox is one; the AIOpsLab
 * bridge (aiopslab/) is another, with an environment that lives in a child process.
 */
import { AgentConfigError, GatewayAgent, parseAgentConfig } from '../agent/index.ts';
import type { Config } from '../config/index.ts';
import type { JsonObject, Task } from '../queue/types.ts';
import { type Environment, EnvironmentError, type ProblemInfo } from './environment.ts';
import { runEpisode } from './episode.ts';
import type { Backend, PrepareLog, RunContext, RunOutcome } from './types.ts';

export type EpisodeSettings = Pick<
  Config,
  'DEFAULT_AGENT_MODEL' | 'AGENT_LLM_RETRIES' | 'AGENT_LLM_RETRY_BACKOFF_MS'
>;

export interface EpisodeBackendSpec {
  type: string;
  /** The problems this backend can run (advertised as the worker's supported_problems). */
  catalogue: readonly ProblemInfo[];
  /** Problem ids to advertise when they are not known up front (the bridge's list mode). */
  problems?(): Promise<string[]>;
  /** A fresh environment for one attempt of a task (after any setup it needs, e.g. a cluster). */
  open(task: Task, ctx: RunContext): Environment | Promise<Environment>;
  /** Backend.notReady / Backend.prepare: work between tasks (a dirty cluster's reset). */
  notReady?(): string | null;
  prepare?(signal: AbortSignal, log: PrepareLog): Promise<void>;
}

export class EpisodeBackend implements Backend {
  readonly type: string;
  readonly notReady?: () => string | null;
  readonly prepare?: (signal: AbortSignal, log: PrepareLog) => Promise<void>;

  constructor(
    private readonly spec: EpisodeBackendSpec,
    private readonly settings: EpisodeSettings,
  ) {
    this.type = spec.type;
    // Present only when the spec has them: a worker skips the hooks of a backend without.
    if (spec.notReady) this.notReady = () => spec.notReady!();
    if (spec.prepare) this.prepare = (signal, log) => spec.prepare!(signal, log);
  }

  async problems(): Promise<string[]> {
    if (this.spec.problems) return this.spec.problems();
    return this.spec.catalogue.map((p) => p.id);
  }

  async run(task: Task, ctx: RunContext): Promise<RunOutcome> {
    if (!ctx.llm)
      return failed('no_gateway', 'No LLM gateway was handed to this attempt; the agent cannot call a model');
    let agentConfig: ReturnType<typeof parseAgentConfig>;
    try {
      agentConfig = parseAgentConfig(task.parameters.agent_config, {
        model: this.settings.DEFAULT_AGENT_MODEL,
      });
    } catch (err) {
      if (err instanceof AgentConfigError)
        return failed('invalid_agent_config', err.message, { field: err.field });
      throw err;
    }
    let environment: Environment;
    try {
      environment = await this.spec.open(task, ctx);
    } catch (err) {
      if (ctx.signal.aborted) return failed('stopped', 'Stopped before the environment was ready');
      if (err instanceof EnvironmentError)
        return {
          status: 'failed',
          retryable: err.retryable,
          error: { reason: err.code, message: err.message, ...err.details },
        };
      throw err;
    }
    const agent = new GatewayAgent({
      baseUrl: ctx.llm.baseUrl,
      apiKey: ctx.llm.apiKey,
      config: agentConfig,
      signal: ctx.signal,
    });
    return runEpisode({
      problemId: task.problem_id,
      backend: this.type,
      model: agentConfig.model,
      maxSteps: task.parameters.max_steps,
      environment,
      agent,
      signal: ctx.signal,
      retry: {
        retries: this.settings.AGENT_LLM_RETRIES,
        backoffMs: this.settings.AGENT_LLM_RETRY_BACKOFF_MS,
      },
      log: (level, message, context) => ctx.log(level, message, context, 'episode'),
    });
  }
}

function failed(reason: string, message: string, extra: JsonObject = {}): RunOutcome {
  return { status: 'failed', error: { reason, message, ...extra } };
}
