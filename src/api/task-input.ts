/**
 * Request body → NewTask. The seed documents two shapes (options at the top level, and
 * options inside `parameters`); both are read, the top level wins, and config fills the rest.
 * null counts as "not given", since Python clients send None as null.
 */
import type { Static } from 'typebox';
import { AgentConfigError, parseAgentConfig } from '../agent/config.ts';
import { backendKnowsProblem } from '../backends/index.ts';
import type { Config } from '../config/index.ts';
import type { Json, JsonObject, NewTask, TaskParameters } from '../queue/types.ts';
import { invalid } from './errors.ts';
import { TASK_OPTION_KEYS, type TaskCreateBody } from './schemas/tasks.ts';

export type TaskCreate = Static<typeof TaskCreateBody>;
type Options = { [K in (typeof TASK_OPTION_KEYS)[number]]?: TaskCreate[K] };

export type TaskDefaults = Pick<
  Config,
  | 'DEFAULT_MAX_STEPS'
  | 'DEFAULT_TIMEOUT_MINUTES'
  | 'DEFAULT_PRIORITY'
  | 'DEFAULT_MAX_ATTEMPTS'
  | 'DEFAULT_AGENT_MODEL'
>;

function mergedOptions(body: TaskCreate): Options {
  const out: Record<string, unknown> = {};
  const nested = (body.parameters ?? {}) as Record<string, unknown>;
  const top = body as Record<string, unknown>;
  for (const key of TASK_OPTION_KEYS) {
    const value = top[key] ?? nested[key];
    if (value !== undefined && value !== null) out[key] = value;
  }
  return out as Options;
}

/** Keys inside `parameters` that are not options travel along untouched (backends may read them). */
function extraParameters(body: TaskCreate): JsonObject {
  const extras: JsonObject = {};
  for (const [k, v] of Object.entries(body.parameters ?? {})) {
    if (!(TASK_OPTION_KEYS as string[]).includes(k) && v !== undefined) extras[k] = v as Json;
  }
  return extras;
}

/**
 * `key.header`: the `Idempotency-Key` header of a single submit; a different key in the body
 * is a contradiction, refused with 422. `key.fallback`: used only when the body has no key
 * (a batch item's key derived from the batch's header).
 */
export function toNewTask(
  body: TaskCreate,
  defaults: TaskDefaults,
  key: { header?: string; fallback?: string } = {},
): NewTask {
  const o = mergedOptions(body);
  if (key.header !== undefined && o.idempotency_key && o.idempotency_key !== key.header)
    throw invalid('idempotency_key', 'differs from the Idempotency-Key header');
  if (o.backend_type && backendKnowsProblem(o.backend_type, body.problem_id) === false)
    throw invalid(
      'problem_id',
      `backend "${o.backend_type}" has no problem "${body.problem_id}" (GET /api/v1/problems?backend=${o.backend_type} lists its problems)`,
      { backend_type: o.backend_type },
    );
  const agentConfig = (o.agent_config ?? {}) as JsonObject;
  checkAgentConfig(agentConfig, defaults.DEFAULT_AGENT_MODEL);
  const priority = o.priority ?? defaults.DEFAULT_PRIORITY;
  // priority and backend_type are echoed in parameters as the predecessor kept them there
  // (with the default priority applied); the values are the task's own, wherever they were given.
  const parameters: TaskParameters = {
    ...extraParameters(body),
    max_steps: o.max_steps ?? defaults.DEFAULT_MAX_STEPS,
    timeout_minutes: o.timeout_minutes ?? defaults.DEFAULT_TIMEOUT_MINUTES,
    agent_config: { ...agentConfig, model: agentConfig.model ?? defaults.DEFAULT_AGENT_MODEL },
    priority,
  };
  if (o.backend_type) parameters.backend_type = o.backend_type;
  if (o.callback_url) parameters.callback_url = o.callback_url;
  if (o.metadata) parameters.metadata = o.metadata as JsonObject;
  if (o.labels) parameters.labels = o.labels;
  return {
    problem_id: body.problem_id,
    priority,
    backend_type: o.backend_type ?? null,
    parameters,
    max_attempts: o.max_attempts ?? defaults.DEFAULT_MAX_ATTEMPTS,
    idempotency_key: o.idempotency_key ?? key.header ?? key.fallback ?? null,
    policy_version: o.policy_version ?? null,
  };
}

/**
 * The fields the built-in agent reads (model, temperature, top_p, max_tokens, prompt_style,
 * conversation_id) are checked here by the agent's own parser, so `temperature: "hot"` is a 422
 * naming `agent_config.temperature` at submit, not a task failed at its first step. Other keys
 * pass untouched: the same object carries settings for other agents (a `command` program's).
 */
function checkAgentConfig(agentConfig: JsonObject, defaultModel: string): void {
  try {
    parseAgentConfig(agentConfig, { model: defaultModel });
  } catch (err) {
    if (!(err instanceof AgentConfigError)) throw err;
    throw invalid(err.field === 'agent_config' ? 'agent_config' : `agent_config.${err.field}`, err.message);
  }
}
