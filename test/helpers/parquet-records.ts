/**
 * Trajectory records for the Parquet export's tests: one with every field set (a message tree,
 * tool calls, content parts, token ids and logprobs, awkward doubles and text), one with every
 * nullable field null, and a simple token view to stand in for tokens.ts.
 */
import type { ExportCall, ExportConversation, TrajectoryRecord } from '../../src/datasets/export/record.ts';
import type { TokenLine } from '../../src/datasets/export/token-types.ts';

const uuid = (n: number, tag = 0) =>
  `${tag.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

/** Timestamps at microsecond precision (PostgreSQL's), some with fewer fractional digits. */
const at = (i: number, s: number, frac = '123456') =>
  `2026-03-0${1 + (i % 9)}T10:${String(s % 60).padStart(2, '0')}:0${s % 10}.${frac}Z`;

/** Doubles that must come back bit for bit: long mantissas, tiny, huge, integral. */
const LOGPROBS = [-1.2345678901234567, -1e-300, -0.1, -Math.PI, -123456.789, -2, -5e-324];

function call(i: number, seq: number, withIds: boolean, promptLen: number): ExportCall {
  const completion = [seq * 10 + 1, seq * 10 + 2, 151643 + i];
  return {
    seq,
    model_requested: 'policy',
    model: 'qwen3-8b',
    upstream: 'vllm',
    request: { temperature: 0.7, tools: [{ type: 'function', function: { name: 'exec_shell' } }] },
    prompt_last_seq: seq * 2 - 1,
    reply_seq: seq * 2,
    prefix_consistent: seq !== 3,
    finish_reasons: ['tool_calls'],
    end_reason: 'tool_calls',
    status: 200,
    error: null,
    usage: { prompt_tokens: promptLen, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 2 } },
    prompt_tokens: promptLen,
    completion_tokens: 3,
    cached_tokens: 2,
    reasoning_tokens: 0,
    cost: 0.000123456789,
    latency_ms: 812.345678,
    ttft_ms: 95.5,
    policy_version: 7,
    started_at: at(i, seq * 2),
    completed_at: at(i, seq * 2 + 1, '5'),
    prompt_token_ids: withIds ? Array.from({ length: promptLen }, (_, k) => (k * 7919 + i) % 151936) : null,
    completion_token_ids: withIds ? (seq === 1 ? [...completion, 2 ** 31 - 1] : completion) : null,
    completion_logprobs: withIds ? LOGPROBS.slice(0, seq === 1 ? 4 : 3) : null,
  };
}

function conversation(i: number, tag: number, withIds: boolean): ExportConversation {
  return {
    id: uuid(i, tag),
    conversation_key: `agent-${tag}`,
    model_name: 'qwen3-8b',
    started_at: at(i, 1),
    ended_at: at(i, 9, '000001'),
    prompt_tokens: 120,
    completion_tokens: 9,
    total_tokens: 129,
    cost: 0.00042,
    messages: [
      {
        seq: 1,
        parent_seq: null,
        role: 'system',
        content: 'You are an SRE agent.',
        tool_calls: null,
        tool_call_id: null,
        name: null,
      },
      {
        seq: 2,
        parent_seq: 1,
        role: 'user',
        content: [{ type: 'text', text: 'Pods crash-loop — why? 🚨 "quoted" \\ back' }],
        tool_calls: null,
        tool_call_id: null,
        name: null,
      },
      {
        seq: 3,
        parent_seq: 2,
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'exec_shell', arguments: '{"command":"kubectl get pods"}' },
          },
        ],
        tool_call_id: null,
        name: null,
      },
      {
        seq: 4,
        parent_seq: 3,
        role: 'tool',
        content: 'NAME READY\napi 0/1',
        tool_calls: null,
        tool_call_id: 'call_1',
        name: 'exec_shell',
      },
      {
        seq: 5,
        parent_seq: 4,
        role: 'assistant',
        content: '',
        tool_calls: [],
        tool_call_id: null,
        name: null,
      },
      // A rewritten history: the next prompt branched from the system message.
      {
        seq: 6,
        parent_seq: 1,
        role: 'user',
        content: 'Summarised: api is down.',
        tool_calls: null,
        tool_call_id: null,
        name: 'user',
      },
    ],
    calls: [call(i, 1, withIds, 40 + i), call(i, 2, withIds, 60 + i), call(i, 3, withIds, 8)],
  };
}

export function fullRecord(i: number): TrajectoryRecord {
  return {
    schema_version: '1.0',
    cursor: `0000000000${String(1000 + i)}`,
    task_id: uuid(i),
    attempt: 1 + (i % 2),
    attempts: 2,
    final: i % 2 === 1,
    problem_id: `misconfig_app_hotel_res-detection-${i}`,
    task_type: 'detection',
    backend_type: 'aiopslab',
    worker_id: `worker-${i}`,
    status: i % 2 === 1 ? 'completed' : 'lost',
    error: i % 2 === 1 ? null : { reason: 'lease expired', worker: `worker-${i}` },
    experiment_id: uuid(i, 0xe),
    group_id: uuid(i, 0xf),
    repetition: i,
    policy_version: 7,
    labels: { team: 'sre', 'run id': `r-${i}` },
    agent_config: { model: 'policy', max_tokens: 512, nested: { list: [1, 2.5, 'x', null, true] } },
    created_at: at(i, 0),
    started_at: at(i, 1, '1'),
    completed_at: at(i, 9),
    queue_seconds: 0.123456,
    run_seconds: 61.000001,
    results: { 'Detection Accuracy': 'Correct', TTD: 12.5 },
    result: { task_type: 'detection', results: { 'Detection Accuracy': 'Correct' }, steps: 3 },
    reward: 1,
    reward_reason: 'detection: Correct',
    rewards: { accuracy: 1, format: 0.25, judge: -0.5 },
    reward_history: [
      { name: 'accuracy', value: 1, details: null, written_by: 'default', created_at: at(i, 9) },
      {
        name: 'judge',
        value: -0.5,
        details: { judge: 'gpt', why: 'late' },
        written_by: 'trainer',
        created_at: at(i, 10),
      },
    ],
    conversations: [conversation(i, 1, true), conversation(i, 2, false)],
    steps: [
      {
        timestamp: at(i, 2),
        level: 'info',
        message: 'step 1: kubectl get pods',
        context: { step: 1, action: 'exec_shell' },
        source: 'worker',
      },
      {
        timestamp: at(i, 3, '12'),
        level: 'warning',
        message: 'ünïcode ✓',
        context: null,
        source: 'environment',
      },
    ],
  };
}

/** Every nullable field null, every list empty, a conversation whose call has nothing recorded. */
export function nullRecord(i: number): TrajectoryRecord {
  const base = fullRecord(i);
  const bare: ExportCall = {
    ...call(i, 1, false, 0),
    model: null,
    request: null,
    prompt_last_seq: null,
    reply_seq: null,
    finish_reasons: null,
    status: null,
    error: 'upstream refused',
    usage: null,
    prompt_tokens: null,
    completion_tokens: null,
    cached_tokens: null,
    reasoning_tokens: null,
    cost: null,
    latency_ms: null,
    ttft_ms: null,
    policy_version: null,
  };
  return {
    ...base,
    task_type: null,
    backend_type: null,
    worker_id: null,
    error: null,
    experiment_id: null,
    group_id: null,
    repetition: null,
    policy_version: null,
    labels: {},
    agent_config: null,
    started_at: null,
    completed_at: null,
    queue_seconds: null,
    run_seconds: null,
    results: null,
    result: null,
    reward: null,
    rewards: {},
    reward_history: [],
    steps: [],
    conversations: [
      {
        ...conversation(i, 3, false),
        conversation_key: null,
        model_name: null,
        ended_at: null,
        cost: null,
        messages: [
          {
            seq: 1,
            parent_seq: null,
            role: 'user',
            content: null,
            tool_calls: null,
            tool_call_id: null,
            name: null,
          },
        ],
        calls: [bare],
      },
    ],
  };
}

/**
 * A simple token view (tokens.ts is built elsewhere): the first call's prompt, then each call's
 * completion; a drift when there is more than one call, so every TokenLine field is exercised.
 */
export function simpleTokenLines(r: TrajectoryRecord): TokenLine[] {
  return r.conversations.map((c) => {
    const calls = c.calls.filter((call) => call.prompt_token_ids && call.completion_token_ids);
    const base = {
      schema_version: r.schema_version,
      cursor: r.cursor,
      task_id: r.task_id,
      attempt: r.attempt,
      conversation_id: c.id,
      conversation_key: c.conversation_key,
      model: c.model_name,
      policy_version: r.policy_version,
      reward: r.reward,
      status: r.status,
      calls_total: c.calls.length,
    };
    const first = calls[0];
    if (!first) {
      return {
        ...base,
        token_ids_recorded: false,
        note: 'no call recorded token ids',
        prompt_ids: null,
        response_ids: null,
        response_mask: null,
        response_logprobs: null,
        token_consistent: null,
        drift: null,
        calls_used: 0,
      };
    }
    const response = calls.flatMap((call) => call.completion_token_ids!);
    return {
      ...base,
      token_ids_recorded: true,
      note: null,
      prompt_ids: first.prompt_token_ids,
      response_ids: response,
      response_mask: response.map((_, k) => k % 2),
      response_logprobs: calls.flatMap((call) => call.completion_logprobs ?? []),
      token_consistent: calls.length === 1,
      drift: calls.length > 1 ? { call_seq: calls[1]!.seq, position: 17 } : null,
      calls_used: calls.length,
    };
  });
}
