/**
 * A task's `parameters.agent_config`, checked once before the episode starts: a typo found
 * after a 20-minute cluster setup wastes the setup, so every field is validated up front and the
 * error names the field and what it accepts. Keys this module does not know are ignored, since
 * the same object also carries settings meant for other agents (a `command` backend's program).
 */
import { isPromptStyle, PROMPT_STYLES, type PromptStyle } from './prompt.ts';

export interface AgentConfig {
  model: string;
  /** Sampling settings are sent only when given, so the upstream's own defaults apply otherwise. */
  temperature?: number;
  max_tokens?: number;
  top_p?: number;
  prompt_style: PromptStyle;
  /** Sent as `X-Conversation-Id`, so the gateway files every call of the episode together. */
  conversation_id?: string;
}

export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
  constructor(
    /** The offending key of agent_config (`agent_config` itself when it is not an object). */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_PROMPT_STYLE: PromptStyle = 'gpt';
const MAX_MODEL_LENGTH = 200;
const MAX_CONVERSATION_ID_LENGTH = 200;
// Printable ASCII only: the id goes into an HTTP header, where a newline or non-ASCII would
// either be refused by node or split the header.
const HEADER_SAFE = /^[\x20-\x7e]+$/;

export function parseAgentConfig(raw: unknown, defaults: { model: string }): AgentConfig {
  const input = asObject(raw);
  const config: AgentConfig = {
    model: parseModel(input.model ?? defaults.model),
    prompt_style: parsePromptStyle(input.prompt_style),
  };
  const temperature = parseNumberInRange('temperature', input.temperature, 0, 2);
  if (temperature !== undefined) config.temperature = temperature;
  const topP = parseNumberInRange('top_p', input.top_p, 0, 1);
  if (topP !== undefined) config.top_p = topP;
  const maxTokens = parseMaxTokens(input.max_tokens);
  if (maxTokens !== undefined) config.max_tokens = maxTokens;
  const conversationId = parseConversationId(input.conversation_id);
  if (conversationId !== undefined) config.conversation_id = conversationId;
  return config;
}

/** Absent (undefined or null) agent_config means "all defaults". */
function asObject(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new AgentConfigError('agent_config', `agent_config must be a JSON object (got ${describe(raw)})`);
  return raw as Record<string, unknown>;
}

function parseModel(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_MODEL_LENGTH)
    throw new AgentConfigError(
      'model',
      `agent_config.model must be a non-empty string of at most ${MAX_MODEL_LENGTH} characters (got ${describe(value)})`,
    );
  return value;
}

function parsePromptStyle(value: unknown): PromptStyle {
  if (value === undefined || value === null) return DEFAULT_PROMPT_STYLE;
  if (!isPromptStyle(value))
    throw new AgentConfigError(
      'prompt_style',
      `agent_config.prompt_style must be one of ${PROMPT_STYLES.join(', ')} (got ${describe(value)})`,
    );
  return value;
}

/** null counts as "not set", as JSON clients often send it for an empty optional field. */
function parseNumberInRange(field: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
    throw new AgentConfigError(
      field,
      `agent_config.${field} must be a number from ${min} to ${max} (got ${describe(value)})`,
    );
  return value;
}

function parseMaxTokens(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw new AgentConfigError(
      'max_tokens',
      `agent_config.max_tokens must be a positive integer (got ${describe(value)})`,
    );
  return value;
}

function parseConversationId(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > MAX_CONVERSATION_ID_LENGTH || !HEADER_SAFE.test(value))
    throw new AgentConfigError(
      'conversation_id',
      `agent_config.conversation_id must be 1 to ${MAX_CONVERSATION_ID_LENGTH} printable ASCII characters (got ${describe(value)})`,
    );
  return value;
}

/** A short rendering of a bad value for an error message. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
