/**
 * A synthetic, AIOpsLab-shaped trajectory dataset for the export benchmarks, generated lazily
 * (one record at a time, so memory stays flat however many are asked for) and reproducibly
 * (a seeded PRNG: the same options give the same records).
 *
 * Shape of one trajectory at the defaults, sized after real AIOpsLab episodes with a 7-8B policy:
 *   - 30 log steps (~200 B each, with a small context object);
 *   - one conversation of 15 calls: a ~2.5 KB system prompt, a ~1 KB task, then per call an
 *     assistant turn (~400 B of thought and a tool call) and an observation (~1.5 KB of
 *     kubectl / log output), so the last prompt is ~32 KB of text, ~8k tokens;
 *   - every other trajectory (`tokenIdsEvery` = 2) has token ids as a vLLM upstream returns
 *     them: each call's whole prompt (~1k growing to ~8k ids, ~63k per trajectory), its
 *     completion (~100 ids) and the completion's logprobs;
 *   - a request with the tool list (~1 KB), usage, rewards, evaluation results.
 * Text is cut at random offsets from one random corpus, so values differ the way real ones do
 * (dictionary encoding cannot fold them) without the generator costing more than the writers.
 */
import type {
  ExportCall,
  ExportConversation,
  ExportMessage,
  ExportStep,
  TrajectoryRecord,
} from '../src/datasets/export/record.ts';

export interface ExportDataOptions {
  trajectories: number;
  /** Log steps per trajectory. */
  steps?: number;
  /** LLM calls in each trajectory's conversation. */
  calls?: number;
  /** One trajectory in this many has token ids (1: all, 0: none). */
  tokenIdsEvery?: number;
  seed?: number;
}

const VOCAB = 151_936;
const CHARS_PER_TOKEN = 4;
const WORDS = (
  'pod service deployment namespace kubectl get describe logs error timeout connection refused ' +
  'restart crashloopbackoff ready replicas container image pull memory cpu latency p99 request ' +
  'trace span grpc http 503 500 upstream mongodb redis geo profile rate user reservation search ' +
  'frontend recommendation config map secret port target mismatch endpoint probe failed killing'
).split(' ');

/** mulberry32: small, fast, seeded. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Built in 64 KB pieces so the word list's transient strings never weigh on the runs' RSS. */
function buildCorpus(random: () => number, bytes: number): string {
  const pieces: string[] = [];
  for (let size = 0; size < bytes; ) {
    let piece = '';
    while (piece.length < 65_536) {
      piece += WORDS[Math.floor(random() * WORDS.length)]!;
      piece += random() < 0.08 ? '\n' : ' ';
    }
    pieces.push(piece);
    size += piece.length;
  }
  return pieces.join('');
}

const iso = (ms: number) => new Date(ms).toISOString();

interface Context {
  random: () => number;
  corpus: string;
  text(approx: number): string;
  int(max: number): number;
}

function context(seed: number): Context {
  const random = prng(seed);
  const corpus = buildCorpus(random, 4 * 2 ** 20);
  const int = (max: number) => Math.floor(random() * max);
  return {
    random,
    corpus,
    int,
    text(approx) {
      const length = Math.max(1, Math.round(approx * (0.75 + random() * 0.5)));
      const start = int(corpus.length - length);
      return corpus.slice(start, start + length);
    },
  };
}

const TOOLS = ['exec_shell', 'get_logs', 'get_metrics', 'get_traces', 'submit'].map((name) => ({
  type: 'function',
  function: {
    name,
    description: `AIOpsLab API ${name}: read the cluster state or submit the answer.`,
    parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
  },
}));

function messages(ctx: Context, calls: number): ExportMessage[] {
  const out: ExportMessage[] = [];
  const add = (role: string, content: string | null, extra: Partial<ExportMessage> = {}) =>
    out.push({
      seq: out.length + 1,
      parent_seq: out.length === 0 ? null : out.length,
      role,
      content,
      tool_calls: null,
      tool_call_id: null,
      name: null,
      ...extra,
    });
  add('system', ctx.text(2500));
  add('user', ctx.text(1000));
  for (let k = 1; k <= calls; k++) {
    const id = `call_${k}_${ctx.int(1e9)}`;
    add('assistant', ctx.text(300), {
      tool_calls: [
        {
          id,
          type: 'function',
          function: { name: 'exec_shell', arguments: JSON.stringify({ command: ctx.text(60) }) },
        },
      ],
    });
    add('tool', ctx.text(1500), { tool_call_id: id, name: 'exec_shell' });
  }
  return out;
}

/** Token ids of the whole conversation as the model saw it, and the boundaries of each prompt. */
function conversationIds(ctx: Context, msgs: ExportMessage[]): { ids: number[]; promptEnds: number[] } {
  const ids: number[] = [];
  const promptEnds: number[] = [];
  for (const m of msgs) {
    if (m.role === 'assistant') promptEnds.push(ids.length);
    const chars = (typeof m.content === 'string' ? m.content.length : 0) + (m.tool_calls ? 120 : 0);
    for (let t = 0; t < Math.ceil(chars / CHARS_PER_TOKEN); t++) ids.push(ctx.int(VOCAB));
  }
  return { ids, promptEnds };
}

function conversation(
  ctx: Context,
  i: number,
  t0: number,
  calls: number,
  withIds: boolean,
): ExportConversation {
  const msgs = messages(ctx, calls);
  const tokens = withIds ? conversationIds(ctx, msgs) : null;
  const out: ExportCall[] = [];
  let prompt = 0;
  let completion = 0;
  for (let k = 1; k <= calls; k++) {
    const reply = 2 + 2 * k - 1;
    const promptEnd = tokens?.promptEnds[k - 1] ?? 0;
    const completionEnd = tokens?.promptEnds[k] ?? tokens?.ids.length ?? 0;
    const completionIds = tokens
      ? tokens.ids.slice(promptEnd, Math.min(promptEnd + 100, completionEnd))
      : null;
    const promptTokens = Math.ceil(
      msgs.slice(0, reply - 1).reduce((s, m) => s + String(m.content).length, 0) / 4,
    );
    prompt += promptTokens;
    completion += 100;
    const start = t0 + k * 4000;
    out.push({
      seq: k,
      model_requested: 'policy',
      model: 'Qwen/Qwen3-8B',
      upstream: 'vllm',
      request: { temperature: 1, top_p: 1, max_tokens: 1024, logprobs: withIds, tools: TOOLS },
      prompt_last_seq: reply - 1,
      reply_seq: reply,
      prefix_consistent: true,
      finish_reasons: ['tool_calls'],
      end_reason: 'tool_calls',
      status: 200,
      error: null,
      usage: { prompt_tokens: promptTokens, completion_tokens: 100, total_tokens: promptTokens + 100 },
      prompt_tokens: promptTokens,
      completion_tokens: 100,
      cached_tokens: Math.max(0, promptTokens - 500),
      reasoning_tokens: 0,
      cost: null,
      latency_ms: 800 + ctx.random() * 3000,
      ttft_ms: 50 + ctx.random() * 200,
      policy_version: 42,
      started_at: iso(start),
      completed_at: iso(start + 3000),
      prompt_token_ids: tokens ? tokens.ids.slice(0, promptEnd) : null,
      completion_token_ids: completionIds,
      completion_logprobs: completionIds ? completionIds.map(() => -ctx.random() * 3) : null,
    });
  }
  return {
    id: uuid(i, 0xc0),
    conversation_key: 'default',
    model_name: 'Qwen/Qwen3-8B',
    started_at: iso(t0),
    ended_at: iso(t0 + (calls + 1) * 4000),
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    cost: null,
    messages: msgs,
    calls: out,
  };
}

function steps(ctx: Context, t0: number, n: number): ExportStep[] {
  return Array.from({ length: n }, (_, k) => ({
    timestamp: iso(t0 + k * 2000),
    level: k === n - 1 ? 'warning' : 'info',
    message: ctx.text(200),
    context: { step: k + 1, action: 'exec_shell', details: { exit_code: ctx.int(2) } },
    source: k % 2 ? 'environment' : 'worker',
  }));
}

const uuid = (n: number, tag = 0) =>
  `${tag.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

function record(ctx: Context, i: number, opts: Required<ExportDataOptions>): TrajectoryRecord {
  const t0 = Date.UTC(2026, 2, 1) + i * 60_000;
  const withIds = opts.tokenIdsEvery > 0 && i % opts.tokenIdsEvery === 0;
  const reward = ctx.random() < 0.6 ? 1 : 0;
  return {
    schema_version: '1.0',
    cursor: String(1_000_000 + i).padStart(20, '0'),
    task_id: uuid(i),
    attempt: 1,
    attempts: 1,
    final: true,
    problem_id: `misconfig_app_hotel_res-detection-${i % 40}`,
    task_type: 'detection',
    backend_type: 'aiopslab',
    worker_id: `worker-${i % 16}`,
    status: 'completed',
    error: null,
    experiment_id: uuid(1, 0xe),
    group_id: uuid(Math.floor(i / 8), 0xf),
    repetition: i % 8,
    policy_version: 42,
    labels: { experiment: 'grpo-bench', split: 'train' },
    agent_config: { model: 'policy', max_steps: opts.calls, temperature: 1 },
    created_at: iso(t0 - 5000),
    started_at: iso(t0),
    completed_at: iso(t0 + (opts.calls + 1) * 4000),
    queue_seconds: 5,
    run_seconds: (opts.calls + 1) * 4,
    results: {
      'Detection Accuracy': reward ? 'Correct' : 'Incorrect',
      TTD: 30 + ctx.random() * 60,
      steps: opts.calls,
    },
    result: { task_type: 'detection', results: { 'Detection Accuracy': reward ? 'Correct' : 'Incorrect' } },
    reward,
    reward_reason: `detection: ${reward ? 'Correct' : 'Incorrect'}`,
    rewards: { accuracy: reward, format: 1 },
    reward_history: [
      { name: 'accuracy', value: reward, details: null, written_by: 'default', created_at: iso(t0 + 70_000) },
    ],
    conversations: [conversation(ctx, i, t0, opts.calls, withIds)],
    steps: steps(ctx, t0, opts.steps),
  };
}

/** The dataset, one record at a time. */
export function* generateTrajectories(options: ExportDataOptions): Generator<TrajectoryRecord> {
  const opts: Required<ExportDataOptions> = { steps: 30, calls: 15, tokenIdsEvery: 2, seed: 1, ...options };
  const ctx = context(opts.seed);
  for (let i = 0; i < opts.trajectories; i++) yield record(ctx, i, opts);
}
