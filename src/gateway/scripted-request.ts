/**
 * The scripted upstream's view of a request: which policy, the messages as text, the tools, the
 * options it honours, and the toy tokenizer every count is made with (words and punctuation,
 * leading whitespace attached), so usage, `max_tokens`, logprobs and token ids agree.
 */
import { createHash } from 'node:crypto';
import type { ChatRequest } from './upstream-types.ts';

/** The models this upstream answers, for `GET /llm/v1/models`. */
export const SCRIPTED_MODELS = [
  'scripted:echo',
  'scripted:aiopslab',
  'scripted:tools',
  'scripted:solver',
  'scripted:wrong',
] as const;
export type ScriptedModel = (typeof SCRIPTED_MODELS)[number];

export const POLICY_NAMES = ['echo', 'aiopslab', 'tools', 'solver', 'wrong'] as const;
export type Policy = (typeof POLICY_NAMES)[number];
export type Json = Record<string, unknown>;

const MAX_TOP_LOGPROBS = 20;
const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Tokenizer

/**
 * A run of letters/digits or one other character, with the whitespace before it; trailing
 * whitespace is a piece of its own. The pieces concatenate back to the text exactly, which is what
 * lets `max_tokens` cut the text and lets streamed chunks reassemble to the non-streamed content.
 */
const PIECE = /\s*(?:[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_])|\s+/gu;

export function tokenize(text: string): string[] {
  return text.match(PIECE) ?? [];
}

/** A stable id for a piece: FNV-1a over its UTF-8 bytes, mod 100000. */
export function tokenId(piece: string): number {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(piece)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % 100_000;
}

export interface Msg {
  role: string;
  text: string;
  toolCalls: unknown;
}

export interface Tool {
  name: string;
  parameters: Json;
}

export interface Parsed {
  policy: Policy;
  model: string;
  messages: Msg[];
  tools: Tool[];
  rawTools: unknown;
  stream: boolean;
  includeUsage: boolean;
  logprobs: boolean;
  topLogprobs: number;
  tokenIds: boolean;
  maxTokens: number | undefined;
  /** Hex digest of the model and messages: the source of ids and `created`. */
  digest: string;
}

export interface Failure {
  status: number;
  message: string;
  param: string;
  code: string | null;
}

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A message's text: a string content, or the text parts of a multi-part content joined by lines. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.flatMap((p) => (isObject(p) && typeof p.text === 'string' ? [p.text] : [])).join('\n');
}

export function readTools(raw: unknown): Tool[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((t) => {
    const fn = isObject(t) ? t.function : undefined;
    if (!isObject(fn) || typeof fn.name !== 'string') return [];
    return [{ name: fn.name, parameters: isObject(fn.parameters) ? fn.parameters : {} }];
  });
}

function policyOf(model: string): Policy | undefined {
  const name = model.startsWith('scripted:') ? model.slice('scripted:'.length) : model;
  return POLICY_NAMES.find((p) => p === name);
}

/** `max_completion_tokens` (the newer name) or `max_tokens`; absent means unlimited. */
function readMaxTokens(body: Json): number | undefined | Failure {
  const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const v = body[param];
  if (v == null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    return {
      status: 400,
      message: `Invalid type for '${param}': expected an integer.`,
      param,
      code: 'invalid_type',
    };
  }
  if (v < 1) {
    return {
      status: 400,
      message: `Invalid '${param}': integer below minimum value. Expected a value >= 1, but got ${v} instead.`,
      param,
      code: 'integer_below_min_value',
    };
  }
  return v;
}

export function parse(body: ChatRequest): Parsed | Failure {
  const raw = body as unknown;
  if (!isObject(raw) || !Array.isArray(raw.messages)) {
    return {
      status: 400,
      message: "Invalid type for 'messages': expected an array of message objects.",
      param: 'messages',
      code: 'invalid_type',
    };
  }
  const model = typeof raw.model === 'string' ? raw.model : '';
  const policy = policyOf(model);
  if (!policy) {
    return {
      status: 404,
      message: `The model '${model}' does not exist. Scripted models: ${SCRIPTED_MODELS.join(', ')}.`,
      param: 'model',
      code: 'model_not_found',
    };
  }
  const maxTokens = readMaxTokens(raw);
  if (typeof maxTokens === 'object') return maxTokens;
  const messages = raw.messages.filter(isObject).map((m) => ({
    role: typeof m.role === 'string' ? m.role : '',
    text: textOf(m.content),
    toolCalls: m.tool_calls,
  }));
  const stream = raw.stream === true;
  const top = typeof raw.top_logprobs === 'number' ? Math.trunc(raw.top_logprobs) : 0;
  return {
    policy,
    model,
    messages,
    tools: readTools(raw.tools),
    rawTools: raw.tools,
    stream,
    includeUsage: stream && isObject(raw.stream_options) && raw.stream_options.include_usage === true,
    logprobs: raw.logprobs === true,
    topLogprobs: Math.min(Math.max(top, 0), MAX_TOP_LOGPROBS),
    tokenIds: raw.return_token_ids === true,
    maxTokens,
    digest: createHash('sha256')
      .update(JSON.stringify([model, raw.messages]))
      .digest('hex'),
  };
}

/** What the prompt tokens are counted over: the tool schemas, then each message as `role: text`. */
export function promptText(p: Parsed): string {
  const lines = p.messages.map((m) => {
    const calls = m.toolCalls == null ? '' : ` ${JSON.stringify(m.toolCalls)}`;
    return `${m.role}: ${m.text}${calls}\n`;
  });
  if (p.tools.length > 0) lines.unshift(`tools: ${JSON.stringify(p.rawTools)}\n`);
  return lines.join('');
}
