/**
 * One non-streamed chat completion against an OpenAI-compatible endpoint (normally this
 * server's recording gateway at `/llm/v1`). Everything that is not a model's answer is thrown
 * as an LlmCallError: a stock AIOpsLab client (openrouter.py) returns the error text as if the
 * model had said it, which costs the episode a step and puts a fake action into the trajectory.
 * Uses the worker's node:http client for its keep-alive agents (see http-client.ts for why not fetch).
 */
import { type RawResponse, requestText } from '../worker/http-client.ts';
import type { ChatMessage } from './prompt.ts';

export interface ChatCompletionRequest {
  model: string;
  messages: readonly ChatMessage[];
  temperature?: number;
  max_tokens?: number;
  top_p?: number;
}

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatCompletionResult {
  /** `choices[0].message.content` exactly as received; '' only when the model sent tool calls alone. */
  text: string;
  toolCalls: unknown[];
  finishReason: string | null;
  /** null when the endpoint reported no usage. */
  usage: TokenUsage | null;
  id: string | null;
  model: string | null;
  /** The gateway's id of the conversation this call was recorded on (null from other endpoints). */
  conversationId: string | null;
}

export interface LlmCallErrorDetails {
  /** HTTP status, or null when no response arrived (connection refused, reset). */
  status: number | null;
  /** The OpenAI error `code` (e.g. `rate_limit_exceeded`), or ours: `network_error`, `empty_reply`, `invalid_response`. */
  code: string | null;
  /** The OpenAI error `type` (e.g. `invalid_request_error`). */
  type: string | null;
  /** The error's own message from the body (or the start of a non-JSON body). */
  detail: string | null;
  /** True when the same request may succeed later: 408, 429 (but not quota), 5xx, network. */
  retryable: boolean;
  cause?: unknown;
}

export class LlmCallError extends Error {
  override name = 'LlmCallError';
  readonly status: number | null;
  readonly code: string | null;
  readonly type: string | null;
  readonly detail: string | null;
  readonly retryable: boolean;

  constructor(message: string, details: LlmCallErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.code = details.code;
    this.type = details.type;
    this.detail = details.detail;
    this.retryable = details.retryable;
  }
}

export interface LlmClientOptions {
  /** Ends before `/chat/completions`, e.g. `http://127.0.0.1:8000/llm/v1`. */
  baseUrl: string;
  apiKey: string;
  /** Sent as `X-Conversation-Id` on every call. */
  conversationId?: string;
}

/** The gateway's response header naming the recorded conversation (see gateway.ts). */
const CONVERSATION_ID_HEADER = 'x-llm-conversation-id';
/** How much of a non-JSON error body goes into an error message. */
const MAX_DETAIL_CHARS = 500;

export class LlmClient {
  readonly endpoint: string;
  private readonly headers: Record<string, string>;

  constructor(options: LlmClientOptions) {
    this.endpoint = chatCompletionsUrl(options.baseUrl);
    if (!options.apiKey) throw new TypeError('LlmClient needs an apiKey (the task token for the gateway)');
    this.headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      authorization: `Bearer ${options.apiKey}`,
    };
    if (options.conversationId) this.headers['x-conversation-id'] = options.conversationId;
  }

  /** Rejects with LlmCallError, or with `signal.reason` once the signal aborts. */
  async complete(request: ChatCompletionRequest, signal?: AbortSignal): Promise<ChatCompletionResult> {
    signal?.throwIfAborted();
    let response: RawResponse;
    try {
      response = await requestText(this.endpoint, {
        method: 'POST',
        headers: this.headers,
        body: JSON.stringify(requestBody(request)),
        signal,
      });
    } catch (err) {
      // An abort is the caller's decision, not a failure of the LLM: surface the caller's reason.
      signal?.throwIfAborted();
      throw networkError(err);
    }
    const header = response.headers[CONVERSATION_ID_HEADER];
    return {
      ...parseCompletion(response.status, response.text),
      conversationId: typeof header === 'string' ? header : null,
    };
  }
}

function chatCompletionsUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(`LlmClient baseUrl is not a URL: ${baseUrl}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError(`LlmClient baseUrl must be http(s): ${baseUrl}`);
  return `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
}

/** Only the keys that were given: an absent setting must reach the upstream as absent, not null. */
function requestBody(request: ChatCompletionRequest): Record<string, unknown> {
  const body: Record<string, unknown> = { model: request.model, messages: request.messages };
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.max_tokens !== undefined) body.max_tokens = request.max_tokens;
  if (request.top_p !== undefined) body.top_p = request.top_p;
  return body;
}

/** Turns a response into the reply, or throws: the status, an error body, or no usable message. */
export function parseCompletion(status: number, text: string): Omit<ChatCompletionResult, 'conversationId'> {
  const body = parseJson(text);
  if (status < 200 || status > 299) throw httpError(status, body, text);
  if (!isObject(body))
    throw new LlmCallError(`LLM endpoint answered HTTP ${status} with a body that is not a JSON object`, {
      status,
      code: 'invalid_response',
      type: null,
      detail: truncate(text),
      retryable: false,
    });
  // Some OpenAI-compatible routers (OpenRouter) report upstream failures in a 2xx body.
  if (body.error !== undefined && body.error !== null) throw errorInBody(status, body.error);
  const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (!isObject(choice)) throw emptyReply(status, 'no choices');
  if (choice.error !== undefined && choice.error !== null) throw errorInBody(status, choice.error);
  const finishReason = typeof choice.finish_reason === 'string' ? choice.finish_reason : null;
  const message = isObject(choice.message) ? choice.message : {};
  const toolCalls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  const content = message.content;
  if (content === null || content === undefined) {
    if (toolCalls.length === 0) throw emptyReply(status, `no content (finish_reason ${finishReason})`);
  } else if (typeof content !== 'string') {
    throw new LlmCallError('LLM reply content is not a string', {
      status,
      code: 'invalid_response',
      type: null,
      detail: truncate(JSON.stringify(content)),
      retryable: false,
    });
  }
  return {
    text: typeof content === 'string' ? content : '',
    toolCalls,
    finishReason,
    usage: parseUsage(body.usage),
    id: typeof body.id === 'string' ? body.id : null,
    model: typeof body.model === 'string' ? body.model : null,
  };
}

function httpError(status: number, body: unknown, text: string): LlmCallError {
  const fields = errorFields(isObject(body) ? body : {});
  const detail = fields.detail ?? (text ? truncate(text) : null);
  const code = fields.code;
  return new LlmCallError(
    `LLM call failed: HTTP ${status}${code ? ` (${code})` : ''}${detail ? `: ${detail}` : ''}`,
    {
      status,
      code,
      type: fields.type,
      detail,
      retryable: isRetryable(status, code),
    },
  );
}

/** An `error` member found in a 2xx body or in a choice. A numeric code there is HTTP-like (OpenRouter). */
function errorInBody(status: number, error: unknown): LlmCallError {
  const fields = errorFields({ error });
  const numericCode = isObject(error) && typeof error.code === 'number' ? error.code : null;
  return new LlmCallError(
    `LLM call failed inside a HTTP ${status} reply: ${fields.detail ?? 'unknown error'}`,
    {
      status,
      code: fields.code,
      type: fields.type,
      detail: fields.detail,
      retryable: numericCode !== null && isRetryable(numericCode, fields.code),
    },
  );
}

/**
 * Reads both error shapes we meet: OpenAI's `{"error": {"message", "type", "code"}}` and this
 * server's API errors `{"error": "...", "code": "SNAKE_CASE"}`.
 */
function errorFields(body: Record<string, unknown>): Pick<LlmCallErrorDetails, 'code' | 'type' | 'detail'> {
  const error = body.error;
  if (typeof error === 'string') return { code: stringOrNull(body.code), type: null, detail: error };
  if (!isObject(error)) return { code: stringOrNull(body.code), type: null, detail: null };
  return {
    code: error.code === undefined || error.code === null ? null : String(error.code),
    type: stringOrNull(error.type),
    detail: stringOrNull(error.message),
  };
}

/** OpenAI answers 429 both for "slow down" and for "out of credit"; only the first passes with time. */
function isRetryable(status: number, code: string | null): boolean {
  if (status === 429) return code !== 'insufficient_quota';
  return status === 408 || status >= 500;
}

function emptyReply(status: number, why: string): LlmCallError {
  return new LlmCallError(`LLM reply has no message: ${why}`, {
    status,
    code: 'empty_reply',
    type: null,
    detail: why,
    retryable: false,
  });
}

function networkError(err: unknown): LlmCallError {
  const reason = err instanceof Error ? err.message : String(err);
  return new LlmCallError(`LLM call failed before a response arrived: ${reason}`, {
    status: null,
    code: 'network_error',
    type: null,
    detail: reason,
    retryable: true,
    cause: err,
  });
}

function parseUsage(usage: unknown): TokenUsage | null {
  if (!isObject(usage)) return null;
  const prompt = finiteOrZero(usage.prompt_tokens);
  const completion = finiteOrZero(usage.completion_tokens);
  const total =
    typeof usage.total_tokens === 'number' ? finiteOrZero(usage.total_tokens) : prompt + completion;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function finiteOrZero(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function truncate(text: string): string {
  return text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}...` : text;
}
