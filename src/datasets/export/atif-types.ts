/**
 * ATIF v1.4 (Harbor's Agent Trajectory Interchange Format) as TypeScript, after the RFC
 * docs/rfcs/0001-trajectory-format.md and the pydantic models in src/harbor/models/trajectories/
 * of github.com/laude-institute/harbor. Optional fields are left out rather than set to null,
 * as Harbor's own `to_json_dict()` writes them (exclude_none).
 */

export const ATIF_VERSION = 'ATIF-v1.4';

export interface AtifTrajectory {
  schema_version: typeof ATIF_VERSION;
  session_id: string;
  agent: AtifAgent;
  /** At least one; step_id runs 1, 2, 3… in order. */
  steps: AtifStep[];
  notes?: string;
  final_metrics?: AtifFinalMetrics;
  extra?: Record<string, unknown>;
}

export interface AtifAgent {
  name: string;
  version: string;
  model_name?: string;
  extra?: Record<string, unknown>;
}

export interface AtifStep {
  step_id: number;
  /** ISO 8601. */
  timestamp?: string;
  source: 'system' | 'user' | 'agent';
  /** Agent steps only (as are reasoning_content, tool_calls and metrics). */
  model_name?: string;
  /** Required; may be empty. */
  message: string;
  reasoning_content?: string;
  tool_calls?: AtifToolCall[];
  observation?: AtifObservation;
  metrics?: AtifMetrics;
  extra?: Record<string, unknown>;
}

export interface AtifToolCall {
  tool_call_id: string;
  function_name: string;
  /** A JSON object, possibly empty. */
  arguments: Record<string, unknown>;
}

export interface AtifObservation {
  results: AtifObservationResult[];
}

export interface AtifObservationResult {
  /** A tool_call_id of the same step's tool_calls; omitted for feedback that answers none. */
  source_call_id?: string;
  content?: string;
}

export interface AtifMetrics {
  /** All input tokens, cached ones included. */
  prompt_tokens?: number;
  completion_tokens?: number;
  cached_tokens?: number;
  cost_usd?: number;
  prompt_token_ids?: number[];
  completion_token_ids?: number[];
  logprobs?: number[];
  extra?: Record<string, unknown>;
}

export interface AtifFinalMetrics {
  total_prompt_tokens?: number;
  total_completion_tokens?: number;
  total_cached_tokens?: number;
  total_cost_usd?: number;
  total_steps?: number;
  extra?: Record<string, unknown>;
}
