/**
 * What the gateway forwards to: an OpenAI-compatible chat-completions endpoint. HTTP upstreams
 * (OpenAI, OpenRouter, vLLM…) and the built-in scripted one implement the same interface, so a
 * scripted call goes through exactly the same forwarding and recording path as a real one.
 */

/** A chat-completions request body as the client sent it (plus the gateway's injections). */
export type ChatRequest = Record<string, unknown> & { model: string; messages: unknown[] };

export interface UpstreamReply {
  /** HTTP status the upstream answered with. */
  status: number;
  /** Response headers, lower-case names (at least content-type). */
  headers: Record<string, string>;
  /**
   * The body bytes exactly as the upstream produced them, chunk by chunk as they arrived
   * (a JSON document, or `text/event-stream` for `stream: true`). Iteration throws when the
   * upstream connection fails mid-body; it ends early (returns) when `signal` aborts.
   */
  body: AsyncIterable<Uint8Array>;
}

export type UpstreamKind = 'openai' | 'openrouter' | 'vllm' | 'scripted';

export interface Upstream {
  /** The configured name (`openai`, `openrouter`, `scripted`, or a key of LLM_UPSTREAMS). */
  readonly name: string;
  readonly kind: UpstreamKind;
  /**
   * Sends one request. Resolves once the status and headers are known; rejects when the
   * upstream cannot be reached. `signal` aborts the request (client gone, timeout).
   */
  send(body: ChatRequest, signal: AbortSignal): Promise<UpstreamReply>;
}
