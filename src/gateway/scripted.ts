/**
 * The built-in `scripted` upstream: answers `scripted:<policy>` chat-completions requests inside
 * the process, with no network, in the bytes an OpenAI-compatible server would send. Tests, the
 * benchmark and dry runs then go through the gateway's real forwarding and recording path without
 * an API key or a GPU. Everything is derived from the request (ids and `created` from a hash of the
 * model and messages, never the clock or randomness), so the same request gives the same bytes.
 *
 * Models: `scripted:echo`, `scripted:tools`, and three players of AIOpsLab episodes:
 * `scripted:aiopslab` (a shallow guess), `scripted:solver` (investigates with kubectl, diagnoses,
 * fixes, submits the right answer) and `scripted:wrong` (a well-formed wrong answer).
 *
 * scripted-request.ts reads the request (and holds the toy tokenizer), scripted-policies.ts
 * decides what to say (the AIOpsLab players with scripted-episode.ts, which rebuilds the episode
 * from the messages, and scripted-solver.ts / scripted-diagnose.ts / scripted-kubectl-read.ts /
 * scripted-wrong.ts); this file cuts that to `max_tokens` and writes the JSON document or the
 * SSE stream, with usage, logprobs and vLLM-style token ids when asked.
 */
import { type Draft, POLICIES } from './scripted-policies.ts';
import {
  type Failure,
  type Json,
  type Parsed,
  parse,
  promptText,
  tokenId,
  tokenize,
} from './scripted-request.ts';
import type { ChatRequest, Upstream, UpstreamReply } from './upstream-types.ts';

export { AIOPSLAB_EXPLORE_STEPS } from './scripted-policies.ts';
export { SCRIPTED_MODELS, type ScriptedModel, tokenId, tokenize } from './scripted-request.ts';

/** Tokens per streamed content chunk and per tool-call arguments fragment. */
export const TOKENS_PER_CHUNK = 2;
const SYSTEM_FINGERPRINT = 'fp_scripted';
const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Generation: the draft cut to max_tokens, as token pieces

interface ToolCallOut {
  id: string;
  name: string;
  args: string[];
}

interface Completion {
  content: string[];
  toolCalls: ToolCallOut[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  /** Every generated piece in order: the content, then each tool call's arguments. */
  pieces: string[];
}

/**
 * Cuts the draft to the token budget: content first, then the tool call's arguments (partial JSON
 * when cut, as a real model's would be); a tool call with no arguments token left is dropped.
 */
function generate(draft: Draft, maxTokens: number | undefined, digest: string): Completion {
  const content = tokenize(draft.content);
  const args = draft.toolCall ? tokenize(draft.toolCall.arguments) : [];
  const budget = maxTokens ?? Number.POSITIVE_INFINITY;
  const keptContent = content.slice(0, budget);
  const keptArgs = args.slice(0, Math.max(0, budget - keptContent.length));
  const toolCalls =
    draft.toolCall && keptArgs.length > 0
      ? [{ id: `call_${digest.slice(0, 24)}`, name: draft.toolCall.name, args: keptArgs }]
      : [];
  const cut = content.length + args.length > budget;
  return {
    content: keptContent,
    toolCalls,
    finishReason: cut ? 'length' : toolCalls.length > 0 ? 'tool_calls' : 'stop',
    pieces: [...keptContent, ...keptArgs],
  };
}

// ---------------------------------------------------------------------------------------------
// Serialization: OpenAI's documents, compact JSON

/** Likely-looking alternatives for top_logprobs (20 of them remain whatever the chosen token). */
const ALTERNATIVES =
  ' the| a| and| to| of| is| in| it| for| on| with| that| be| as| not| pod| we| I|,|.|:'.split('|');

const bytesOf = (s: string) => [...encoder.encode(s)];

/** Close to 0 (the scripted model is sure of itself) and stable per piece. */
const logprobOf = (piece: string) => -(tokenId(piece) % 1000) / 10_000;

function logprobEntry(piece: string, top: number): Json {
  const logprob = logprobOf(piece);
  const others = ALTERNATIVES.filter((a) => a !== piece)
    .slice(0, Math.max(0, top - 1))
    .map((token, i) => ({ token, logprob: logprob - 2 - i, bytes: bytesOf(token) }));
  const chosen = { token: piece, logprob, bytes: bytesOf(piece) };
  return { ...chosen, top_logprobs: top > 0 ? [chosen, ...others] : [] };
}

function logprobsOf(p: Parsed, pieces: string[]): Json | null {
  return p.logprobs ? { content: pieces.map((t) => logprobEntry(t, p.topLogprobs)), refusal: null } : null;
}

function usageOf(promptTokens: number, completionTokens: number): Json {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

interface Reply {
  p: Parsed;
  c: Completion;
  id: string;
  created: number;
  promptIds: number[];
}

function reply(p: Parsed): Reply {
  const c = generate(POLICIES[p.policy](p), p.maxTokens, p.digest);
  return {
    p,
    c,
    id: `chatcmpl-${p.digest.slice(0, 29)}`,
    // Somewhere in 2023-2026, fixed by the request.
    created: 1_700_000_000 + (Number.parseInt(p.digest.slice(0, 8), 16) % 100_000_000),
    promptIds: tokenize(promptText(p)).map(tokenId),
  };
}

function completionDocument({ p, c, id, created, promptIds }: Reply): string {
  const message: Json = { role: 'assistant', content: c.content.join(''), refusal: null };
  if (c.toolCalls.length > 0) {
    message.tool_calls = c.toolCalls.map((t) => ({
      id: t.id,
      type: 'function',
      function: { name: t.name, arguments: t.args.join('') },
    }));
  }
  message.annotations = [];
  const choice: Json = {
    index: 0,
    message,
    logprobs: logprobsOf(p, c.content),
    finish_reason: c.finishReason,
  };
  if (p.tokenIds) choice.token_ids = c.pieces.map(tokenId);
  const doc: Json = {
    id,
    object: 'chat.completion',
    created,
    model: p.model,
    choices: [choice],
    usage: usageOf(promptIds.length, c.pieces.length),
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
  if (p.tokenIds) doc.prompt_token_ids = promptIds;
  return JSON.stringify(doc);
}

function groups<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += TOKENS_PER_CHUNK) out.push(items.slice(i, i + TOKENS_PER_CHUNK));
  return out;
}

/**
 * The SSE events: a role chunk, the content TOKENS_PER_CHUNK tokens a chunk, per tool call a
 * header fragment (id, type, name, empty arguments) then its arguments TOKENS_PER_CHUNK tokens a
 * fragment, a finish chunk with an empty delta, the usage chunk when asked, then `[DONE]`.
 */
function streamEvents({ p, c, id, created, promptIds }: Reply): string[] {
  const head = {
    id,
    object: 'chat.completion.chunk',
    created,
    model: p.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
  const chunk = (delta: Json, pieces: string[], extra: { logprobs?: boolean; finish?: string } = {}) => {
    const choice: Json = {
      index: 0,
      delta,
      logprobs: extra.logprobs ? logprobsOf(p, pieces) : null,
      finish_reason: extra.finish ?? null,
    };
    // vLLM: the ids of the tokens this chunk carries (every chunk, empty when it carries none).
    if (p.tokenIds) choice.token_ids = pieces.map(tokenId);
    const doc: Json = { ...head, choices: [choice] };
    if (p.includeUsage) doc.usage = null;
    return doc;
  };
  const docs: Json[] = [chunk({ role: 'assistant', content: '', refusal: null }, [])];
  // vLLM sends the prompt's token ids once, on the first chunk.
  if (p.tokenIds) (docs[0] as Json).prompt_token_ids = promptIds;
  for (const g of groups(c.content)) docs.push(chunk({ content: g.join('') }, g, { logprobs: true }));
  c.toolCalls.forEach((t, index) => {
    const header = { index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } };
    docs.push(chunk({ tool_calls: [header] }, []));
    for (const g of groups(t.args)) {
      docs.push(chunk({ tool_calls: [{ index, function: { arguments: g.join('') } }] }, g));
    }
  });
  docs.push(chunk({}, [], { finish: c.finishReason }));
  if (p.includeUsage) docs.push({ ...head, choices: [], usage: usageOf(promptIds.length, c.pieces.length) });
  return [...docs.map((d) => `data: ${JSON.stringify(d)}\n\n`), 'data: [DONE]\n\n'];
}

function errorDocument(f: Failure): string {
  return JSON.stringify({
    error: { message: f.message, type: 'invalid_request_error', param: f.param, code: f.code },
  });
}

// ---------------------------------------------------------------------------------------------
// The upstream

const JSON_HEADERS = { 'content-type': 'application/json' };
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

/**
 * Yields the parts one by one, each on a later turn of the event loop (as network chunks would
 * arrive), and stops as soon as `signal` aborts.
 */
async function* deliver(parts: string[], signal: AbortSignal): AsyncGenerator<Uint8Array> {
  for (const [i, part] of parts.entries()) {
    if (i > 0) await new Promise((resolve) => setImmediate(resolve));
    if (signal.aborted) return;
    yield encoder.encode(part);
  }
}

/** Answers one request; exported for tests that want the bytes without an AbortSignal. */
export function scriptedAnswer(body: ChatRequest): {
  status: number;
  headers: Record<string, string>;
  parts: string[];
} {
  const parsed = parse(body);
  if ('status' in parsed)
    return { status: parsed.status, headers: JSON_HEADERS, parts: [errorDocument(parsed)] };
  const r = reply(parsed);
  if (parsed.stream) return { status: 200, headers: SSE_HEADERS, parts: streamEvents(r) };
  return { status: 200, headers: JSON_HEADERS, parts: [completionDocument(r)] };
}

export function createScriptedUpstream(): Upstream {
  return {
    name: 'scripted',
    kind: 'scripted',
    async send(body: ChatRequest, signal: AbortSignal): Promise<UpstreamReply> {
      signal.throwIfAborted();
      const { status, headers, parts } = scriptedAnswer(body);
      return { status, headers: { ...headers }, body: deliver(parts, signal) };
    },
  };
}
