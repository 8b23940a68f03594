/**
 * What the gateway reads of a chat completion request before relaying it: the model, the
 * messages (as stored: messages.ts), the stream flag, and which conversation of the attempt it
 * belongs to. Everything else goes upstream as the client sent it.
 */
import { BadMessage, type StoredMessage, toRequestMessages } from './messages.ts';
import { gatewayErrors, type OpenAiError } from './wire.ts';

type Obj = Record<string, unknown>;

const DEFAULT_KEY = 'default';
// Printable ASCII (it travels in a header), no leading or trailing space.
const KEY_PATTERN = /^[\x21-\x7e](?:[\x20-\x7e]{0,198}[\x21-\x7e])?$/;

export type ParsedChat =
  | { body: Obj & { model: string; messages: unknown[] }; model: string; prompt: StoredMessage[] }
  | { error: OpenAiError };

/** The few things the gateway must understand of a request; the rest goes upstream as sent. */
export function parseChatBody(raw: unknown): ParsedChat {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    return { error: gatewayErrors.badRequest('The body must be a JSON object.') };
  const body = raw as Obj;
  if (typeof body.model !== 'string' || body.model === '' || body.model.length > 256)
    return { error: gatewayErrors.badRequest('model must be a non-empty string.', 'model') };
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return { error: gatewayErrors.badRequest('messages must be a non-empty array.', 'messages') };
  if (body.stream !== undefined && typeof body.stream !== 'boolean')
    return { error: gatewayErrors.badRequest('stream must be a boolean.', 'stream') };
  try {
    return {
      body: body as Obj & { model: string; messages: unknown[] },
      model: body.model,
      prompt: toRequestMessages(body.messages),
    };
  } catch (err) {
    if (err instanceof BadMessage) return { error: gatewayErrors.badRequest(err.message, err.param) };
    throw err;
  }
}

/** X-Conversation-Id, else body metadata.conversation_id, else the attempt's default one. */
export function conversationKey(
  raw: unknown,
  header: string | undefined,
): { key: string } | { error: OpenAiError } {
  const meta = raw && typeof raw === 'object' ? (raw as Obj).metadata : undefined;
  const fromBody = meta && typeof meta === 'object' ? (meta as Obj).conversation_id : undefined;
  if (header === undefined && fromBody !== undefined && typeof fromBody !== 'string')
    return { error: gatewayErrors.badRequest('metadata.conversation_id must be a string.', 'metadata') };
  const key = header ?? (fromBody as string | undefined) ?? DEFAULT_KEY;
  if (!KEY_PATTERN.test(key))
    return {
      error: gatewayErrors.badRequest(
        'The conversation id (X-Conversation-Id or metadata.conversation_id) must be 1–200 printable ASCII characters.',
      ),
    };
  return { key };
}
