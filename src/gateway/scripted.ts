/**
 * The built-in `scripted` upstream: answers `scripted:<policy>` chat-completions requests inside
 * the process, with no network, in the bytes an OpenAI-compatible server would send. Tests, the
 * benchmark and dry runs then go through the gateway's real forwarding and recording path without
 * an API key or a GPU. Everything is derived from the request (ids and `created` from a hash of the
 * model and messages, never the clock or randomness), so the same request gives the same bytes.
 *
 * Policies:
 * - `echo` answers `echo: <last user message>`.
 * - `aiopslab` plays an AIOpsLab episode: two exploratory shell commands, then the `submit(...)`
 *   the task type expects, each as one fenced block without a language tag (what the parser takes).
 * - `tools` calls the first tool offered, then answers in text once the tool result is in the
 *   prompt; without tools it echoes.
 *
 * Tokens come from a toy tokenizer (words and punctuation, leading whitespace attached), so usage,
 * `max_tokens`, logprobs and vLLM's `return_token_ids` all count the same pieces.
 */
import { createHash } from 'node:crypto';
import type { ChatRequest, Upstream, UpstreamReply } from './upstream-types.ts';

/** The models this upstream answers, for `GET /llm/v1/models`. */
export const SCRIPTED_MODELS = ['scripted:echo', 'scripted:aiopslab', 'scripted:tools'] as const;
export type ScriptedModel = (typeof SCRIPTED_MODELS)[number];

type Policy = 'echo' | 'aiopslab' | 'tools';
type Json = Record<string, unknown>;

/** Tokens per streamed content chunk and per tool-call arguments fragment. */
export const TOKENS_PER_CHUNK = 2;
/** Exploratory steps of the aiopslab policy before it submits. */
export const AIOPSLAB_EXPLORE_STEPS = 2;
const SYSTEM_FINGERPRINT = 'fp_scripted';
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

// ---------------------------------------------------------------------------------------------
// The request

interface Msg {
  role: string;
  text: string;
  toolCalls: unknown;
}

interface Tool {
  name: string;
  parameters: Json;
}

interface Parsed {
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

interface Failure {
  status: number;
  message: string;
  param: string;
  code: string | null;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A message's text: a string content, or the text parts of a multi-part content joined by lines. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.flatMap((p) => (isObject(p) && typeof p.text === 'string' ? [p.text] : [])).join('\n');
}

function readTools(raw: unknown): Tool[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((t) => {
    const fn = isObject(t) ? t.function : undefined;
    if (!isObject(fn) || typeof fn.name !== 'string') return [];
    return [{ name: fn.name, parameters: isObject(fn.parameters) ? fn.parameters : {} }];
  });
}

function policyOf(model: string): Policy | undefined {
  const name = model.startsWith('scripted:') ? model.slice('scripted:'.length) : model;
  return (['echo', 'aiopslab', 'tools'] as const).find((p) => p === name);
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

function parse(body: ChatRequest): Parsed | Failure {
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
function promptText(p: Parsed): string {
  const lines = p.messages.map((m) => {
    const calls = m.toolCalls == null ? '' : ` ${JSON.stringify(m.toolCalls)}`;
    return `${m.role}: ${m.text}${calls}\n`;
  });
  if (p.tools.length > 0) lines.unshift(`tools: ${JSON.stringify(p.rawTools)}\n`);
  return lines.join('');
}

// ---------------------------------------------------------------------------------------------
// Policies: what the model "means" to say, before max_tokens

interface Draft {
  content: string;
  toolCall?: { name: string; arguments: string };
}

function lastOf(messages: Msg[], role: string): Msg | undefined {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === role) return messages[i];
  return undefined;
}

function echo(p: Parsed): Draft {
  return { content: `echo: ${lastOf(p.messages, 'user')?.text ?? ''}` };
}

/** A plausible value per declared parameter: the first enum value, the user's text for strings. */
function argumentsFor(tool: Tool, userText: string): string {
  const props = isObject(tool.parameters.properties) ? tool.parameters.properties : {};
  const args: Json = {};
  for (const [key, schema] of Object.entries(props)) {
    const s = isObject(schema) ? schema : {};
    if (Array.isArray(s.enum) && s.enum.length > 0) args[key] = s.enum[0];
    else if (s.type === 'string') args[key] = userText || 'example';
    else if (s.type === 'integer' || s.type === 'number') args[key] = 1;
    else if (s.type === 'boolean') args[key] = true;
    else if (s.type === 'array') args[key] = [];
    else if (s.type === 'object') args[key] = {};
    else args[key] = null;
  }
  return JSON.stringify(args);
}

function tools(p: Parsed): Draft {
  const tool = p.tools[0];
  if (!tool) return echo(p);
  const last = p.messages.at(-1);
  if (last?.role === 'tool') return { content: `The tool returned: ${last.text}` };
  const userText = lastOf(p.messages, 'user')?.text ?? '';
  return {
    content: `Calling ${tool.name}.`,
    toolCall: { name: tool.name, arguments: argumentsFor(tool, userText) },
  };
}

type TaskType = 'detection' | 'localization' | 'analysis' | 'mitigation';

/**
 * AIOpsLab's task descriptions open with "assigned to detect / localize / do root cause analysis /
 * mitigate"; the loose keywords are a fallback, most specific first, since e.g. the mitigation
 * description also says "detected".
 */
function taskTypeOf(text: string): TaskType {
  const phrase = /assigned to (detect|localize|do root cause analysis|mitigate)/i
    .exec(text)?.[1]
    ?.toLowerCase();
  if (phrase === 'detect') return 'detection';
  if (phrase === 'localize') return 'localization';
  if (phrase === 'do root cause analysis') return 'analysis';
  if (phrase === 'mitigate') return 'mitigation';
  if (/mitigat/i.test(text)) return 'mitigation';
  if (/root cause|\banalysis\b/i.test(text)) return 'analysis';
  if (/locali[sz]/i.test(text)) return 'localization';
  return 'detection';
}

/** The app's namespace from the description's "Namespace: x" line, if it is a plain name. */
function namespaceOf(text: string): string | undefined {
  return /^\s*Namespace:\s*([a-z0-9][a-z0-9-]*)\s*$/im.exec(text)?.[1];
}

/**
 * A service to blame: the deployment behind the first pod the observations show as not Running
 * (`kubectl get pods` lines, pod names `<deployment>-<hash>-<hash>`), else `frontend`.
 */
function suspectOf(observations: string): string {
  const line = /^(?:\S+\s+)?([a-z0-9][a-z0-9-]*?)-[a-z0-9]{5,10}-[a-z0-9]{5}\s+\d+\/\d+\s+(\S+)/gm;
  for (const m of observations.matchAll(line)) {
    if (m[2] !== 'Running' && m[1]) return m[1];
  }
  return 'frontend';
}

function submitCall(type: TaskType, observations: string): string {
  switch (type) {
    case 'detection':
      return 'submit("Yes")';
    case 'localization':
      return `submit(${JSON.stringify([suspectOf(observations)])})`;
    case 'analysis':
      return 'submit({"system_level": "Application", "fault_type": "Misconfiguration"})';
    case 'mitigation':
      return 'submit()';
  }
}

function exploreCall(step: number, namespace: string | undefined): string {
  const scope = namespace ? `-n ${namespace}` : '-A';
  const commands = ['kubectl get pods -A', `kubectl get events ${scope} --sort-by=.lastTimestamp`];
  return `exec_shell(${JSON.stringify(commands[step % commands.length])})`;
}

/** One step of an episode; the step is the number of assistant replies already in the prompt. */
function aiopslab(p: Parsed): Draft {
  const step = p.messages.filter((m) => m.role === 'assistant').length;
  const firstUser = p.messages.findIndex((m) => m.role === 'user');
  const brief = p.messages
    .filter((m, i) => m.role === 'system' || i === firstUser)
    .map((m) => m.text)
    .join('\n');
  const observations = p.messages
    .filter((m, i) => m.role === 'user' && i !== firstUser)
    .map((m) => m.text)
    .join('\n');
  const type = taskTypeOf(brief);
  if (step < AIOPSLAB_EXPLORE_STEPS) {
    const thought =
      step === 0 ? 'First I list the pods to see what is unhealthy.' : 'Next I check recent events.';
    return { content: fenced(thought, exploreCall(step, namespaceOf(brief))) };
  }
  return {
    content: fenced(`I have seen enough for the ${type} task; submitting.`, submitCall(type, observations)),
  };
}

/** A thought and exactly one fenced block with no language tag, as AIOpsLab's parser requires. */
function fenced(thought: string, call: string): string {
  return `${thought}\n\`\`\`\n${call}\n\`\`\``;
}

const POLICIES: Record<Policy, (p: Parsed) => Draft> = { echo, aiopslab, tools };

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
