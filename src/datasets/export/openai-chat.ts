/**
 * `openai-chat.jsonl`: one line per conversation in OpenAI's chat fine-tuning format
 * (`{"messages": [...], "tools"?: [...], "parallel_tool_calls"?: bool}`), the format most SFT
 * tooling reads (OpenAI, Together, NeMo Customizer, TRL's conversational datasets).
 *
 * No identification keys (task id, attempt, reward) are added: OpenAI's per-line schema
 * (FineTuneChatRequestInput in its OpenAPI spec) has exactly `messages`, `tools`,
 * `parallel_tool_calls` and `functions`, and its upload check rejects a line holding anything
 * else ("Example N contains an extra …"). A line can be matched to its trajectory by order: the
 * export writes conversations in trajectory order, or export `trajectories` alongside.
 *
 * Each line is the conversation's final branch (see branch.ts). Conversations whose branch
 * holds no assistant message teach nothing and give no line.
 */
import { finalBranch, flattenText, lastCall } from './branch.ts';
import type { LineConverter } from './format-types.ts';
import type { ExportConversation, ExportMessage } from './record.ts';

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | 'function';
  content: unknown;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
}

export interface ChatLine {
  messages: ChatMessage[];
  tools?: unknown[];
  parallel_tool_calls?: boolean;
}

export const openAiChatLines: LineConverter = (record) => {
  const lines: ChatLine[] = [];
  for (const c of record.conversations) {
    const line = chatLine(c);
    if (line) lines.push(line);
  }
  return lines;
};

export function chatLine(conversation: ExportConversation): ChatLine | null {
  const messages = finalBranch(conversation).map(chatMessage);
  if (!messages.some((m) => m.role === 'assistant')) return null;
  const line: ChatLine = { messages };
  const request = lastCall(conversation)?.request;
  if (isObject(request) && Array.isArray(request.tools) && request.tools.length > 0) {
    line.tools = request.tools;
    if (typeof request.parallel_tool_calls === 'boolean')
      line.parallel_tool_calls = request.parallel_tool_calls;
  }
  return line;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A stored message in the fine-tuning schema. `developer` becomes `system`: the fine-tuning
 * schema has no developer role, and OpenAI treats it as the newer name of system.
 */
export function chatMessage(m: ExportMessage): ChatMessage {
  const name = m.name ?? undefined;
  switch (m.role) {
    case 'assistant':
      return assistantMessage(m, name);
    case 'tool':
      return { role: 'tool', content: textOrEmpty(m.content), tool_call_id: m.tool_call_id ?? '' };
    case 'function':
      return { role: 'function', content: textOrEmpty(m.content), name: name ?? '' };
    case 'developer':
    case 'system':
      return withName({ role: 'system', content: textOrEmpty(m.content) }, name);
    default:
      return withName({ role: 'user', content: textOrEmpty(m.content) }, name);
  }
}

function assistantMessage(m: ExportMessage, name: string | undefined): ChatMessage {
  const calls = Array.isArray(m.tool_calls) ? m.tool_calls.map(chatToolCall) : [];
  if (calls.length === 0) return withName({ role: 'assistant', content: textOrEmpty(m.content) }, name);
  // An assistant turn that only calls tools keeps its null content, as the API returned it.
  return withName({ role: 'assistant', content: flattenText(m.content) ?? null, tool_calls: calls }, name);
}

function chatToolCall(raw: unknown, index: number): ChatToolCall {
  const o = isObject(raw) ? raw : {};
  const fn = isObject(o.function) ? o.function : {};
  const args = fn.arguments;
  return {
    id: typeof o.id === 'string' ? o.id : `call_${index}`,
    type: 'function',
    function: {
      name: typeof fn.name === 'string' ? fn.name : '',
      // Arguments are a JSON string in the format; a client that sent an object gets it encoded.
      arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
    },
  };
}

const textOrEmpty = (content: unknown) => flattenText(content) ?? '';

const withName = (m: ChatMessage, name: string | undefined): ChatMessage =>
  name === undefined ? m : { ...m, name };
