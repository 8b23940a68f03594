/** The built-in agent: prompt styles of AIOpsLab's stock clients, called through the LLM gateway. */
export { GatewayAgent, type GatewayAgentOptions, type UsageTotals } from './agent.ts';
export { type AgentConfig, AgentConfigError, DEFAULT_PROMPT_STYLE, parseAgentConfig } from './config.ts';
export {
  type ChatCompletionRequest,
  type ChatCompletionResult,
  LlmCallError,
  type LlmCallErrorDetails,
  LlmClient,
  type LlmClientOptions,
  parseCompletion,
  type TokenUsage,
} from './llm-client.ts';
export {
  buildMessages,
  type ChatMessage,
  type ChatRole,
  isPromptStyle,
  PROMPT_STYLES,
  type ProblemContext,
  type PromptStyle,
  systemPrompt,
  type Turn,
  userContent,
} from './prompt.ts';
