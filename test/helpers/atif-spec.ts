/**
 * ATIF v1.4 as its reference implementation checks it, written independently of our converter's
 * types so a test compares our output with the spec, not with itself. Sources: the RFC
 * docs/rfcs/0001-trajectory-format.md (v1.4) and the pydantic models of
 * github.com/laude-institute/harbor src/harbor/models/trajectories/ (trajectory.py, step.py,
 * agent.py, tool_call.py, observation.py, observation_result.py, metrics.py, final_metrics.py):
 * every model forbids unknown fields (`extra="forbid"`); Trajectory requires schema_version,
 * session_id, agent and at least one step; its validators require step_id 1, 2, 3… in order and
 * every observation source_call_id to name a tool call of the same step; Step requires step_id,
 * source (system|user|agent) and message (a string, possibly empty), checks timestamp as ISO
 * 8601, and allows model_name, reasoning_effort, reasoning_content, tool_calls and metrics on
 * agent steps only.
 */
import { type TSchema, Type } from 'typebox';
import { Value } from 'typebox/value';

const Opt = <T extends TSchema>(s: T) => Type.Optional(Type.Union([s, Type.Null()]));
const Strict = <P extends Record<string, TSchema>>(props: P) =>
  Type.Object(props, { additionalProperties: false });
const Dict = Type.Record(Type.String(), Type.Unknown());

const ToolCall = Strict({ tool_call_id: Type.String(), function_name: Type.String(), arguments: Dict });
const SubagentRef = Strict({
  session_id: Type.String(),
  trajectory_path: Opt(Type.String()),
  extra: Opt(Dict),
});
const ObservationResult = Strict({
  source_call_id: Opt(Type.String()),
  content: Opt(Type.String()),
  subagent_trajectory_ref: Opt(Type.Array(SubagentRef)),
});
const Metrics = Strict({
  prompt_tokens: Opt(Type.Integer()),
  completion_tokens: Opt(Type.Integer()),
  cached_tokens: Opt(Type.Integer()),
  cost_usd: Opt(Type.Number()),
  prompt_token_ids: Opt(Type.Array(Type.Integer())),
  completion_token_ids: Opt(Type.Array(Type.Integer())),
  logprobs: Opt(Type.Array(Type.Number())),
  extra: Opt(Dict),
});
const Step = Strict({
  step_id: Type.Integer({ minimum: 1 }),
  timestamp: Opt(Type.String()),
  source: Type.Union([Type.Literal('system'), Type.Literal('user'), Type.Literal('agent')]),
  model_name: Opt(Type.String()),
  reasoning_effort: Opt(Type.Union([Type.String(), Type.Number()])),
  message: Type.String(),
  reasoning_content: Opt(Type.String()),
  tool_calls: Opt(Type.Array(ToolCall)),
  observation: Opt(Strict({ results: Type.Array(ObservationResult) })),
  metrics: Opt(Metrics),
  extra: Opt(Dict),
});
const Trajectory = Strict({
  schema_version: Type.Union(
    ['ATIF-v1.0', 'ATIF-v1.1', 'ATIF-v1.2', 'ATIF-v1.3', 'ATIF-v1.4'].map((v) => Type.Literal(v)),
  ),
  session_id: Type.String(),
  agent: Strict({
    name: Type.String(),
    version: Type.String(),
    model_name: Opt(Type.String()),
    extra: Opt(Dict),
  }),
  steps: Type.Array(Step, { minItems: 1 }),
  notes: Opt(Type.String()),
  final_metrics: Opt(
    Strict({
      total_prompt_tokens: Opt(Type.Integer()),
      total_completion_tokens: Opt(Type.Integer()),
      total_cached_tokens: Opt(Type.Integer()),
      total_cost_usd: Opt(Type.Number()),
      total_steps: Opt(Type.Integer({ minimum: 0 })),
      extra: Opt(Dict),
    }),
  ),
  extra: Opt(Dict),
});

type Obj = Record<string, unknown>;
const AGENT_ONLY = ['model_name', 'reasoning_effort', 'reasoning_content', 'tool_calls', 'metrics'];
// datetime.fromisoformat after Z → +00:00, as step.py does it.
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:\d{2})?$/;

/** Every way `doc` breaks ATIF v1.4; empty when Harbor's models would accept it. */
export function atifErrors(doc: unknown): string[] {
  const shape = [...Value.Errors(Trajectory, doc)].map((e) => `${e.instancePath || '/'} ${e.message}`);
  if (shape.length > 0) return shape;
  const steps = (doc as { steps: Obj[] }).steps;
  return steps.flatMap((step, i) => stepErrors(step, i));
}

function stepErrors(step: Obj, i: number): string[] {
  const errors: string[] = [];
  if (step.step_id !== i + 1)
    errors.push(`steps[${i}].step_id: expected ${i + 1}, got ${String(step.step_id)}`);
  if (
    typeof step.timestamp === 'string' &&
    (!ISO.test(step.timestamp) || Number.isNaN(Date.parse(step.timestamp)))
  )
    errors.push(`steps[${i}].timestamp is not ISO 8601`);
  if (step.source !== 'agent')
    for (const f of AGENT_ONLY)
      if (step[f] !== undefined && step[f] !== null)
        errors.push(`steps[${i}].${f} only applies to agent steps`);
  const ids = new Set(((step.tool_calls as Obj[] | undefined) ?? []).map((c) => c.tool_call_id));
  for (const r of ((step.observation as { results: Obj[] } | undefined)?.results ?? []) as Obj[])
    if (r.source_call_id !== undefined && r.source_call_id !== null && !ids.has(r.source_call_id))
      errors.push(`steps[${i}] observation names ${String(r.source_call_id)}, not a tool call of the step`);
  return errors;
}
