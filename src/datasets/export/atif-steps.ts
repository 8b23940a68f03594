/**
 * One conversation's final branch as ATIF steps. An ATIF agent step is a whole turn — the
 * model's reply, the tool calls in it, and the environment's answers to them — so tool
 * messages become the `observation` of the agent step before them rather than steps of their
 * own; system and user messages are steps of their own.
 */
import type { AtifMetrics, AtifObservationResult, AtifStep, AtifToolCall } from './atif-types.ts';
import { contentText, finalBranch } from './branch.ts';
import type { ExportCall, ExportConversation, ExportMessage } from './record.ts';

/** Builds steps numbered from `firstId`; each step's extra says where it came from. */
export function conversationSteps(conversation: ExportConversation, firstId: number): AtifStep[] {
  const path = finalBranch(conversation);
  const byReply = new Map<number, ExportCall>();
  for (const c of conversation.calls) if (c.reply_seq !== null) byReply.set(c.reply_seq, c);
  const sentAt = firstSentTimes(path, conversation.calls);
  const steps: AtifStep[] = [];
  let turn: AtifStep | undefined; // the agent step whose tool calls the next tool messages answer
  path.forEach((m, i) => {
    const origin = { conversation_id: conversation.id, message_seq: m.seq };
    if ((m.role === 'tool' || m.role === 'function') && turn) {
      addObservation(turn, m);
      return;
    }
    const id = firstId + steps.length;
    if (m.role === 'assistant') {
      turn = agentStep(id, m, byReply.get(m.seq), origin);
      steps.push(turn);
      return;
    }
    turn = undefined;
    steps.push(otherStep(id, m, sentAt[i], origin));
  });
  return steps;
}

function otherStep(
  id: number,
  m: ExportMessage,
  timestamp: string | undefined,
  origin: Record<string, unknown>,
): AtifStep {
  const system = m.role === 'system' || m.role === 'developer';
  const step: AtifStep = { step_id: id, source: system ? 'system' : 'user', message: contentText(m.content) };
  if (timestamp) step.timestamp = timestamp;
  // A tool result with no agent turn before it (a seeded history) is the environment talking.
  const extra: Record<string, unknown> = { ...origin };
  if (!system && m.role !== 'user') extra.role = m.role;
  if (m.tool_call_id !== null) extra.tool_call_id = m.tool_call_id;
  step.extra = extra;
  return step;
}

function agentStep(
  id: number,
  m: ExportMessage,
  call: ExportCall | undefined,
  origin: Record<string, unknown>,
): AtifStep {
  const step: AtifStep = { step_id: id, source: 'agent', message: contentText(m.content) };
  if (call) {
    step.timestamp = call.completed_at;
    const model = call.model ?? call.model_requested;
    if (model) step.model_name = model;
  }
  const calls = Array.isArray(m.tool_calls) ? m.tool_calls.map((c, j) => toolCall(c, m.seq, j)) : [];
  if (calls.length > 0) step.tool_calls = calls;
  if (call) step.metrics = metrics(call);
  step.extra = call ? { ...origin, call_seq: call.seq } : origin;
  return step;
}

function addObservation(turn: AtifStep, m: ExportMessage): void {
  const result: AtifObservationResult = { content: contentText(m.content) };
  // Only an id of this step's own calls may be named (ATIF checks the reference).
  if (m.tool_call_id !== null && turn.tool_calls?.some((c) => c.tool_call_id === m.tool_call_id))
    result.source_call_id = m.tool_call_id;
  turn.observation ??= { results: [] };
  turn.observation.results.push(result);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function toolCall(raw: unknown, seq: number, index: number): AtifToolCall {
  const o = isObject(raw) ? raw : {};
  const fn = isObject(o.function) ? o.function : {};
  return {
    tool_call_id: typeof o.id === 'string' && o.id !== '' ? o.id : `call_${seq}_${index}`,
    function_name: typeof fn.name === 'string' ? fn.name : '',
    arguments: toolArguments(fn.arguments),
  };
}

/**
 * ATIF wants the arguments as an object; OpenAI sends them as a JSON string, which a policy
 * in training may well have got wrong. Such arguments are kept verbatim under `raw_arguments`
 * rather than dropped: a malformed call is exactly what a trainer wants to see.
 */
function toolArguments(args: unknown): Record<string, unknown> {
  if (isObject(args)) return args;
  if (args === undefined || args === null || args === '') return {};
  if (typeof args === 'string') {
    try {
      const parsed: unknown = JSON.parse(args);
      if (isObject(parsed)) return parsed;
    } catch {
      // kept raw below
    }
    return { raw_arguments: args };
  }
  return { raw_arguments: JSON.stringify(args) };
}

function metrics(call: ExportCall): AtifMetrics {
  const m: AtifMetrics = {};
  if (call.prompt_tokens !== null) m.prompt_tokens = call.prompt_tokens;
  if (call.completion_tokens !== null) m.completion_tokens = call.completion_tokens;
  if (call.cached_tokens !== null) m.cached_tokens = call.cached_tokens;
  if (call.cost !== null) m.cost_usd = call.cost;
  if (call.prompt_token_ids !== null) m.prompt_token_ids = call.prompt_token_ids;
  if (call.completion_token_ids !== null) m.completion_token_ids = call.completion_token_ids;
  if (call.completion_logprobs !== null) m.logprobs = call.completion_logprobs;
  const extra: Record<string, unknown> = { end_reason: call.end_reason };
  if (call.reasoning_tokens !== null) extra.reasoning_tokens = call.reasoning_tokens;
  if (call.latency_ms !== null) extra.latency_ms = call.latency_ms;
  if (call.ttft_ms !== null) extra.ttft_ms = call.ttft_ms;
  if (call.policy_version !== null) extra.policy_version = call.policy_version;
  m.extra = extra;
  return m;
}

/**
 * When each message of the branch was first sent: the start of the first call whose prompt
 * reached it. A prompt ending at path[j] held the whole path up to j (the branch is a chain).
 */
function firstSentTimes(path: ExportMessage[], calls: ExportCall[]): (string | undefined)[] {
  const index = new Map(path.map((m, i) => [m.seq, i]));
  const times: (string | undefined)[] = new Array(path.length).fill(undefined);
  let filled = -1;
  for (const c of [...calls].sort((a, b) => a.seq - b.seq)) {
    const j = c.prompt_last_seq === null ? undefined : index.get(c.prompt_last_seq);
    if (j === undefined) continue;
    while (filled < j) times[++filled] = c.started_at;
  }
  return times;
}
