/**
 * Rebuilds a `chat.completion` from the chunks of a stream, so a streamed call is stored in
 * the same shape as a non-streamed one. Per choice: content, reasoning and refusal text are
 * concatenated; tool calls are assembled by their `index`, independently of any text that
 * came before or between them (the id, type and name arrive once, arguments in fragments);
 * logprobs and vLLM token ids are concatenated in order. Whatever arrived before the stream
 * broke off is kept: the partial reply is data too.
 */

type Obj = Record<string, unknown>;

interface ToolCallParts {
  id: string | null;
  type: string;
  name: string;
  arguments: string;
  extra: Obj;
}

interface ChoiceParts {
  index: number;
  role: string;
  content: string | null;
  reasoning: string | null;
  refusal: string | null;
  toolCalls: Map<number, ToolCallParts>;
  finishReason: unknown;
  logprobs: unknown[] | null;
  refusalLogprobs: unknown[] | null;
  tokenIds: number[] | null;
  extra: Obj;
}

const TOP_LEVEL_KEPT = ['id', 'created', 'model', 'system_fingerprint', 'service_tier', 'provider'];

export class StreamAssembler {
  private readonly choices = new Map<number, ChoiceParts>();
  private readonly top: Obj = {};
  private usage: unknown = null;
  private promptTokenIds: unknown = null;
  /** Chunks seen, and whether one carried model output (for time to first token). */
  chunks = 0;

  /** Adds one parsed chunk; returns true when it carried model output (text, tool call…). */
  push(chunk: unknown): boolean {
    if (chunk === null || typeof chunk !== 'object') return false;
    const c = chunk as Obj;
    this.chunks += 1;
    for (const k of TOP_LEVEL_KEPT) if (c[k] !== undefined && c[k] !== null) this.top[k] ??= c[k];
    if (c.usage) this.usage = c.usage;
    if (c.prompt_token_ids) this.promptTokenIds = c.prompt_token_ids;
    let output = false;
    for (const raw of Array.isArray(c.choices) ? c.choices : [])
      output = this.pushChoice(raw as Obj) || output;
    return output;
  }

  private pushChoice(raw: Obj): boolean {
    const index = typeof raw.index === 'number' ? raw.index : 0;
    const ch = this.choice(index);
    const delta = (raw.delta ?? {}) as Obj;
    let output = false;
    if (typeof delta.role === 'string') ch.role = delta.role;
    if (typeof delta.content === 'string') {
      ch.content = (ch.content ?? '') + delta.content;
      output ||= delta.content.length > 0;
    }
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === 'string') {
      ch.reasoning = (ch.reasoning ?? '') + reasoning;
      output ||= reasoning.length > 0;
    }
    if (typeof delta.refusal === 'string') {
      ch.refusal = (ch.refusal ?? '') + delta.refusal;
      output ||= delta.refusal.length > 0;
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const t of delta.tool_calls) this.pushToolCall(ch, t as Obj);
      output ||= delta.tool_calls.length > 0;
    }
    if (raw.finish_reason != null) ch.finishReason = raw.finish_reason;
    const lp = raw.logprobs as Obj | null | undefined;
    if (lp && Array.isArray(lp.content)) ch.logprobs = [...(ch.logprobs ?? []), ...lp.content];
    if (lp && Array.isArray(lp.refusal)) ch.refusalLogprobs = [...(ch.refusalLogprobs ?? []), ...lp.refusal];
    if (Array.isArray(raw.token_ids)) ch.tokenIds = [...(ch.tokenIds ?? []), ...(raw.token_ids as number[])];
    for (const [k, v] of Object.entries(raw))
      if (!['index', 'delta', 'finish_reason', 'logprobs', 'token_ids'].includes(k) && v != null)
        ch.extra[k] = v;
    return output;
  }

  private pushToolCall(ch: ChoiceParts, t: Obj): void {
    const index = typeof t.index === 'number' ? t.index : ch.toolCalls.size;
    let call = ch.toolCalls.get(index);
    if (!call) {
      call = { id: null, type: 'function', name: '', arguments: '', extra: {} };
      ch.toolCalls.set(index, call);
    }
    if (typeof t.id === 'string' && t.id) call.id = t.id;
    if (typeof t.type === 'string') call.type = t.type;
    const fn = (t.function ?? {}) as Obj;
    if (typeof fn.name === 'string') call.name += fn.name;
    if (typeof fn.arguments === 'string') call.arguments += fn.arguments;
    for (const [k, v] of Object.entries(t))
      if (!['index', 'id', 'type', 'function'].includes(k)) call.extra[k] = v;
  }

  private choice(index: number): ChoiceParts {
    let ch = this.choices.get(index);
    if (!ch) {
      ch = {
        index,
        role: 'assistant',
        content: null,
        reasoning: null,
        refusal: null,
        toolCalls: new Map(),
        finishReason: null,
        logprobs: null,
        refusalLogprobs: null,
        tokenIds: null,
        extra: {},
      };
      this.choices.set(index, ch);
    }
    return ch;
  }

  /** The reassembled `chat.completion` (partial when the stream broke off). */
  result(): Obj {
    const choices = [...this.choices.values()].sort((a, b) => a.index - b.index).map(choiceResult);
    const out: Obj = { ...this.top, object: 'chat.completion', choices };
    if (this.usage) out.usage = this.usage;
    if (this.promptTokenIds) out.prompt_token_ids = this.promptTokenIds;
    return out;
  }
}

function choiceResult(ch: ChoiceParts): Obj {
  const message: Obj = { role: ch.role, content: ch.content };
  if (ch.reasoning !== null) message.reasoning_content = ch.reasoning;
  if (ch.refusal !== null) message.refusal = ch.refusal;
  if (ch.toolCalls.size > 0)
    message.tool_calls = [...ch.toolCalls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, t]) => ({
        id: t.id,
        type: t.type,
        function: { name: t.name, arguments: t.arguments },
        ...t.extra,
      }));
  const out: Obj = { index: ch.index, message, finish_reason: ch.finishReason, ...ch.extra };
  if (ch.logprobs || ch.refusalLogprobs)
    out.logprobs = {
      content: ch.logprobs ?? null,
      ...(ch.refusalLogprobs ? { refusal: ch.refusalLogprobs } : {}),
    };
  if (ch.tokenIds) out.token_ids = ch.tokenIds;
  return out;
}
