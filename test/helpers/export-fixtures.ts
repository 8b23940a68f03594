/**
 * Trajectory records for the export format tests, built turn by turn so a test states only
 * what it is about (the messages a call added, its reply, its token ids) and the seqs,
 * parent links and prompt ranges come out consistent, as the gateway would have stored them.
 *
 * A conversation is a list of turns. Each turn appends its `add` messages after a parent
 * (the current tip by default, or `from` to branch: a prompt that rewrote history), then
 * records one call whose prompt ends at the last added message and whose reply, if any,
 * becomes the new tip.
 */
import type {
  ExportCall,
  ExportConversation,
  ExportMessage,
  TrajectoryRecord,
} from '../../src/datasets/export/record.ts';

export interface MessageSpec {
  role: string;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: string | null;
  name?: string | null;
}

export interface TurnSpec {
  /** Messages added before this call (user, tool results…), appended after the parent. */
  add?: MessageSpec[];
  /** Seq the added messages hang from (a rewritten history); default: the current tip. */
  from?: number | null;
  /** The assistant reply; null for a call that produced none (an error, a cut stream). */
  reply?: MessageSpec | null;
  /** Fields of the call record to set (token ids, usage, status…). */
  call?: Partial<ExportCall>;
}

export interface ConversationSpec {
  id?: string;
  model_name?: string | null;
  conversation_key?: string | null;
  turns: TurnSpec[];
}

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** A deterministic uuid whose last group is `n` (readable in failures). */
export const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A call with every field filled the way a successful, non-streamed call is recorded. */
export function makeCall(seq: number, fields: Partial<ExportCall> = {}): ExportCall {
  return {
    seq,
    model_requested: 'test-model',
    model: 'test-model',
    upstream: 'fake',
    request: { temperature: 1 },
    prompt_last_seq: null,
    reply_seq: null,
    prefix_consistent: true,
    finish_reasons: ['stop'],
    end_reason: 'done',
    status: 200,
    error: null,
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    prompt_tokens: 10,
    completion_tokens: 5,
    cached_tokens: null,
    reasoning_tokens: null,
    cost: null,
    latency_ms: 120,
    ttft_ms: null,
    policy_version: null,
    started_at: at(seq * 10),
    completed_at: at(seq * 10 + 1),
    prompt_token_ids: null,
    completion_token_ids: null,
    completion_logprobs: null,
    ...fields,
  };
}

function toMessage(spec: MessageSpec, seq: number, parent: number | null): ExportMessage {
  return {
    seq,
    parent_seq: parent,
    role: spec.role,
    content: spec.content === undefined ? null : spec.content,
    tool_calls: spec.tool_calls ?? null,
    tool_call_id: spec.tool_call_id ?? null,
    name: spec.name ?? null,
  };
}

/** Builds a conversation from its turns (see the file comment). */
export function makeConversation(spec: ConversationSpec): ExportConversation {
  const messages: ExportMessage[] = [];
  const calls: ExportCall[] = [];
  let tip: number | null = null;
  for (const turn of spec.turns) {
    let parent: number | null = turn.from === undefined ? tip : turn.from;
    for (const m of turn.add ?? []) {
      const seq = messages.length + 1;
      messages.push(toMessage(m, seq, parent));
      parent = seq;
    }
    const promptLast: number | null = parent;
    let replySeq: number | null = null;
    if (turn.reply) {
      replySeq = messages.length + 1;
      messages.push(toMessage(turn.reply, replySeq, promptLast));
    }
    const failed = turn.reply === null;
    calls.push(
      makeCall(calls.length + 1, {
        prompt_last_seq: promptLast,
        reply_seq: replySeq,
        ...(failed
          ? { status: 500, error: 'upstream failed', end_reason: 'upstream_error', finish_reasons: null }
          : {}),
        ...turn.call,
      }),
    );
    tip = replySeq ?? promptLast;
  }
  const sum = (f: (c: ExportCall) => number | null) => calls.reduce((s, c) => s + (f(c) ?? 0), 0);
  return {
    id: spec.id ?? uuid(100),
    conversation_key: spec.conversation_key ?? null,
    model_name: spec.model_name === undefined ? 'test-model' : spec.model_name,
    started_at: calls[0]?.started_at ?? at(0),
    ended_at: calls.at(-1)?.completed_at ?? null,
    prompt_tokens: sum((c) => c.prompt_tokens),
    completion_tokens: sum((c) => c.completion_tokens),
    total_tokens: sum((c) => c.prompt_tokens) + sum((c) => c.completion_tokens),
    cost: null,
    messages,
    calls,
  };
}

/** A trajectory record of one finished attempt holding `conversations`; `fields` override any field. */
export function makeRecord(
  conversations: ExportConversation[],
  fields: Partial<TrajectoryRecord> = {},
): TrajectoryRecord {
  return {
    schema_version: '1.0',
    cursor: '0000000001',
    task_id: uuid(1),
    attempt: 1,
    attempts: 1,
    final: true,
    problem_id: 'misconfig_app_hotel_res-detection-1',
    task_type: 'detection',
    backend_type: 'sandbox',
    worker_id: 'worker-1',
    status: 'completed',
    error: null,
    experiment_id: null,
    group_id: null,
    repetition: null,
    policy_version: null,
    labels: {},
    agent_config: { model: 'test-model' },
    created_at: at(-5),
    started_at: at(0),
    completed_at: at(100),
    queue_seconds: 5,
    run_seconds: 100,
    results: { Detection_Accuracy: 'Correct' },
    result: null,
    reward: 1,
    reward_reason: 'results.Detection_Accuracy = Correct',
    rewards: { success: 1 },
    reward_history: [],
    conversations,
    steps: [],
    ...fields,
  };
}

// ——— Message builders for the common shapes ———

export const system = (content: string): MessageSpec => ({ role: 'system', content });
export const user = (content: unknown): MessageSpec => ({ role: 'user', content });
export const assistant = (content: unknown): MessageSpec => ({ role: 'assistant', content });
export const toolResult = (tool_call_id: string, content: unknown): MessageSpec => ({
  role: 'tool',
  content,
  tool_call_id,
});

/** An assistant message calling tools: `calls` as [id, function name, arguments object]. */
export function toolCalls(
  calls: [string, string, Record<string, unknown>][],
  content: unknown = null,
): MessageSpec {
  return {
    role: 'assistant',
    content,
    tool_calls: calls.map(([id, name, args]) => ({
      id,
      type: 'function',
      function: { name, arguments: JSON.stringify(args) },
    })),
  };
}

/** The tools a request offered, in OpenAI's shape. */
export const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'exec_shell',
      description: 'Run a shell command in the cluster',
      parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
    },
  },
  {
    type: 'function',
    function: {
      name: 'submit',
      description: 'Submit the answer',
      parameters: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] },
    },
  },
];

/**
 * The usual AIOps episode as three calls: the agent runs two shell commands through tool
 * calls (the environment answering each), then submits. No token ids; tests add them.
 */
export function toolEpisodeTurns(): TurnSpec[] {
  const request = { temperature: 0.7, tools: TOOLS, parallel_tool_calls: false };
  return [
    {
      add: [system('You are an SRE agent.'), user('Pods of geo are failing. Detect the fault.')],
      reply: toolCalls([['call_1', 'exec_shell', { command: 'kubectl get pods' }]]),
      call: { request },
    },
    {
      add: [toolResult('call_1', 'geo-1 CrashLoopBackOff')],
      reply: toolCalls([['call_2', 'exec_shell', { command: 'kubectl logs geo-1' }]], 'Checking logs.'),
      call: { request },
    },
    {
      add: [toolResult('call_2', 'error: cannot connect to mongodb')],
      reply: assistant('Fault detected: geo cannot reach mongodb. submit("Yes")'),
      call: { request },
    },
  ];
}
