/**
 * What the gateway adds to a request so the record is complete, and how it takes it back
 * out of the response so the agent sees what it would have seen without the gateway:
 *   - `stream_options.include_usage` on streams that did not ask (the usage chunk, and the
 *     `"usage": null` OpenAI then puts on every chunk, are removed);
 *   - for vLLM upstreams configured for it: `return_token_ids` (removes `prompt_token_ids`
 *     and each choice's `token_ids`) and `logprobs`/`top_logprobs` (each choice's `logprobs`
 *     goes back to null, as a server answers when none were asked for).
 * The names of what was injected are stored with the call.
 */
import type { Capture } from './routing.ts';
import type { ChatRequest } from './upstream-types.ts';

export type Injected = 'stream_options.include_usage' | 'return_token_ids' | 'logprobs' | 'top_logprobs';

type Obj = Record<string, unknown>;

/** Gateway-only request keys, removed before forwarding. */
const CONVERSATION_KEY = 'conversation_id';

export function upstreamRequest(
  client: Obj,
  model: string,
  capture: Capture,
): { body: ChatRequest; injected: Injected[] } {
  const body: Obj = { ...client, model };
  const injected: Injected[] = [];
  const meta = client.metadata;
  if (meta && typeof meta === 'object' && !Array.isArray(meta) && CONVERSATION_KEY in meta) {
    const { [CONVERSATION_KEY]: _, ...rest } = meta as Obj;
    if (Object.keys(rest).length > 0) body.metadata = rest;
    else delete body.metadata;
  }
  if (client.stream === true) {
    const so = (client.stream_options ?? {}) as Obj;
    if (so.include_usage !== true) {
      body.stream_options = { ...so, include_usage: true };
      injected.push('stream_options.include_usage');
    }
  }
  if (capture.returnTokenIds && client.return_token_ids !== true) {
    body.return_token_ids = true;
    injected.push('return_token_ids');
  }
  if (capture.logprobs !== false && client.logprobs !== true) {
    body.logprobs = true;
    injected.push('logprobs');
    if (typeof capture.logprobs === 'number' && capture.logprobs > 0 && client.top_logprobs == null) {
      body.top_logprobs = capture.logprobs;
      injected.push('top_logprobs');
    }
  }
  return { body: body as ChatRequest, injected };
}

/** Removes injected fields from a `chat.completion` document, in place. */
export function stripResponse(doc: Obj, injected: readonly Injected[]): void {
  stripCommon(doc, injected);
}

/**
 * Removes injected fields from one stream chunk, in place. Returns false when the whole chunk
 * exists only because of an injection (the usage chunk of an injected include_usage) and must
 * not reach the client.
 */
export function stripChunk(chunk: Obj, injected: readonly Injected[]): boolean {
  if (injected.includes('stream_options.include_usage')) {
    if (Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage) return false;
    delete chunk.usage;
  }
  stripCommon(chunk, injected);
  return true;
}

function stripCommon(doc: Obj, injected: readonly Injected[]): void {
  const ids = injected.includes('return_token_ids');
  const lps = injected.includes('logprobs');
  if (ids) delete doc.prompt_token_ids;
  if (!ids && !lps) return;
  for (const c of Array.isArray(doc.choices) ? (doc.choices as Obj[]) : []) {
    if (ids) delete c.token_ids;
    if (lps && 'logprobs' in c) c.logprobs = null;
  }
}
