/**
 * The rules a line of an OpenAI chat fine-tuning file must meet, as a checker listing every
 * broken one. Sources: the per-line schema FineTuneChatRequestInput of OpenAI's OpenAPI spec
 * (top-level keys; message shapes per role: system/user {content, name}, assistant {content,
 * name, tool_calls, function_call, weight}, tool {content, tool_call_id}, function {content,
 * name}), and the checks of OpenAI's chat_finetuning_data_prep cookbook (roles, at least one
 * assistant message, unrecognised keys). Tool-call pairing is the chat API's rule (each tool
 * message answers an earlier assistant tool call; each call is answered before the next
 * assistant turn), except on a final assistant turn: OpenAI's own function-calling training
 * example ends on an assistant message whose calls are not answered.
 */

const TOP_KEYS = new Set(['messages', 'tools', 'parallel_tool_calls', 'functions']);
const KEYS: Record<string, Set<string>> = {
  system: new Set(['role', 'content', 'name']),
  user: new Set(['role', 'content', 'name']),
  assistant: new Set(['role', 'content', 'name', 'tool_calls', 'function_call', 'weight']),
  tool: new Set(['role', 'content', 'tool_call_id']),
  function: new Set(['role', 'content', 'name']),
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown) => typeof v === 'string' && v.length > 0;

export function fineTuningErrors(line: unknown): string[] {
  if (!isObj(line)) return ['the line is not a JSON object'];
  const errors: string[] = [];
  for (const k of Object.keys(line)) if (!TOP_KEYS.has(k)) errors.push(`extra top-level key "${k}"`);
  if (line.tools !== undefined) errors.push(...toolsErrors(line.tools));
  if (line.parallel_tool_calls !== undefined && typeof line.parallel_tool_calls !== 'boolean')
    errors.push('parallel_tool_calls must be a boolean');
  const messages = line.messages;
  if (!Array.isArray(messages) || messages.length === 0)
    return [...errors, 'messages must be a non-empty array'];
  messages.forEach((m, i) => {
    errors.push(...messageErrors(m, i));
  });
  if (!messages.some((m) => isObj(m) && m.role === 'assistant')) errors.push('no assistant message');
  errors.push(...pairingErrors(messages.filter(isObj)));
  return errors;
}

function toolsErrors(tools: unknown): string[] {
  if (!Array.isArray(tools)) return ['tools must be an array'];
  return tools.flatMap((t, i) =>
    isObj(t) && t.type === 'function' && isObj(t.function) && nonEmpty(t.function.name)
      ? []
      : [`tools[${i}] must be {type: "function", function: {name, …}}`],
  );
}

function messageErrors(m: unknown, i: number): string[] {
  const at = `messages[${i}]`;
  if (!isObj(m)) return [`${at} is not an object`];
  const allowed = KEYS[String(m.role)];
  if (!allowed) return [`${at}.role "${String(m.role)}" is not a fine-tuning role`];
  const errors = Object.keys(m)
    .filter((k) => !allowed.has(k))
    .map((k) => `${at} has unrecognised key "${k}"`);
  const callsTools = m.role === 'assistant' && (m.tool_calls !== undefined || m.function_call !== undefined);
  if (!contentOk(m.content, callsTools)) errors.push(`${at}.content must be a string or an array of parts`);
  if (m.role === 'tool' && !nonEmpty(m.tool_call_id)) errors.push(`${at}.tool_call_id missing`);
  if (m.role === 'function' && !nonEmpty(m.name)) errors.push(`${at}.name missing`);
  if (m.tool_calls !== undefined) errors.push(...toolCallErrors(m.tool_calls, at));
  return errors;
}

function contentOk(content: unknown, nullable: boolean): boolean {
  if (typeof content === 'string') return true;
  if (content === null || content === undefined) return nullable;
  return Array.isArray(content) && content.length > 0 && content.every((p) => isObj(p) && nonEmpty(p.type));
}

function toolCallErrors(calls: unknown, at: string): string[] {
  if (!Array.isArray(calls) || calls.length === 0) return [`${at}.tool_calls must be a non-empty array`];
  return calls.flatMap((c, j) =>
    isObj(c) &&
    nonEmpty(c.id) &&
    c.type === 'function' &&
    isObj(c.function) &&
    nonEmpty(c.function.name) &&
    typeof c.function.arguments === 'string'
      ? []
      : [`${at}.tool_calls[${j}] must be {id, type: "function", function: {name, arguments: string}}`],
  );
}

/**
 * Tool messages answer open calls of the assistant turn just before them, and every open call
 * is answered before any other message, as the chat API demands.
 */
function pairingErrors(messages: Obj[]): string[] {
  const errors: string[] = [];
  let open = new Set<string>();
  messages.forEach((m, i) => {
    if (m.role === 'tool') {
      const id = String(m.tool_call_id);
      if (!open.delete(id))
        errors.push(`messages[${i}] answers tool call "${id}" that no open assistant call made`);
      return;
    }
    if (open.size > 0) errors.push(`tool calls ${[...open].join(', ')} unanswered before messages[${i}]`);
    const calls = m.role === 'assistant' && Array.isArray(m.tool_calls) ? m.tool_calls : [];
    const last = i === messages.length - 1;
    open = new Set(last ? [] : calls.map((c) => String((c as Obj).id)));
  });
  if (open.size > 0) errors.push(`tool calls ${[...open].join(', ')} never answered`);
  return errors;
}
