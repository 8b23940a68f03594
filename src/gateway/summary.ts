/**
 * The facts a call row keeps beside the response document: who answered, why it stopped,
 * the token counts, the assistant reply as a message, and whether token ids and logprobs
 * came back. Read the same way from a non-streamed document and a reassembled stream.
 */
import { type StoredMessage, toStoredMessage } from './messages.ts';

type Obj = Record<string, unknown>;

export interface Usage {
  prompt: number | null;
  completion: number | null;
  total: number | null;
  cached: number | null;
  reasoning: number | null;
}

export interface ResponseSummary {
  model: string | null;
  finishReasons: unknown[] | null;
  usage: Obj | null;
  tokens: Usage;
  /** The first choice's message: the turn the conversation continues from. */
  reply: StoredMessage | null;
  hasTokenIds: boolean;
  hasLogprobs: boolean;
}

/** A token count as reported; anything that cannot be one (negative, fractional garbage) is unknown. */
const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.trunc(v) : null);
const obj = (v: unknown): Obj | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);

export function summarize(doc: Obj | null): ResponseSummary {
  const choices = Array.isArray(doc?.choices)
    ? (doc.choices as unknown[]).map(obj).filter((c) => c !== null)
    : [];
  const usage = obj(doc?.usage);
  const first = choices.find((c) => (c.index ?? 0) === 0) ?? choices[0];
  const message = obj(first?.message);
  return {
    model: typeof doc?.model === 'string' ? doc.model : null,
    finishReasons: choices.length > 0 ? choices.map((c) => c.finish_reason ?? null) : null,
    usage,
    tokens: {
      prompt: count(usage?.prompt_tokens),
      completion: count(usage?.completion_tokens),
      total: count(usage?.total_tokens),
      cached: count(obj(usage?.prompt_tokens_details)?.cached_tokens),
      reasoning: count(obj(usage?.completion_tokens_details)?.reasoning_tokens),
    },
    reply:
      message && (message.content != null || message.tool_calls != null || message.refusal != null)
        ? replyMessage(message)
        : null,
    hasTokenIds: Array.isArray(doc?.prompt_token_ids) || choices.some((c) => Array.isArray(c.token_ids)),
    hasLogprobs: choices.some((c) => obj(c.logprobs) !== null),
  };
}

/** The reply as the conversation's next message; an upstream that sent no usable role still answered as the assistant. */
function replyMessage(message: Obj): StoredMessage {
  const role = typeof message.role === 'string' && message.role ? message.role : 'assistant';
  return toStoredMessage({ ...message, role }, 0);
}
