/**
 * Chat messages as the store keeps them, and the prefix hashes that let a call store only
 * what its prompt adds.
 *
 * A message's identity is its role, content, tool calls, tool_call_id and name — what the
 * model reads. Other keys a client sends (cache hints, reasoning echoes…) are kept in
 * `metadata.extra`, never dropped, but do not make a message "different".
 *
 * prefix_hash(j) = sha256 over the identities of messages 1..j, fed through one running
 * hash, so checking that a prompt of N messages extends the stored conversation costs one
 * pass over the prompt (the JSON parse already paid that) and one comparison — no reads of
 * stored rows.
 */
import { createHash, type Hash } from 'node:crypto';

export interface StoredMessage {
  role: string;
  content: unknown;
  tool_calls: unknown;
  tool_call_id: string | null;
  name: string | null;
  metadata: Record<string, unknown>;
}

const IDENTITY_KEYS = new Set(['role', 'content', 'tool_calls', 'tool_call_id', 'name']);

/** A request message the gateway refuses; `param` names it the way OpenAI does (`messages[2].role`). */
export class BadMessage extends Error {
  override name = 'BadMessage';
  constructor(
    message: string,
    readonly param = 'messages',
  ) {
    super(message);
  }
}

/** The roles OpenAI's chat-completions API accepts. */
export const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;

/**
 * A message → what is stored. Throws BadMessage for a message with no role.
 *
 * Called over a request's messages (`messages.map(toStoredMessage)`, which passes the array
 * as the third argument), each message is first checked as OpenAI checks a request
 * (checkRequestMessage). A reply read back from an upstream (no array) is only converted:
 * the gateway records what the model said, it does not judge it.
 */
export function toStoredMessage(m: unknown, index: number, request?: readonly unknown[]): StoredMessage {
  if (m === null || typeof m !== 'object' || Array.isArray(m))
    throw new BadMessage(`messages[${index}] must be an object`, `messages[${index}]`);
  const o = m as Record<string, unknown>;
  if (typeof o.role !== 'string' || o.role === '')
    throw new BadMessage(`messages[${index}].role must be a string`, `messages[${index}].role`);
  if (request) checkRequestMessage(o, index);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!IDENTITY_KEYS.has(k)) extra[k] = v;
  return {
    role: o.role,
    content: o.content ?? null,
    tool_calls: o.tool_calls ?? null,
    tool_call_id: typeof o.tool_call_id === 'string' ? o.tool_call_id : null,
    name: typeof o.name === 'string' ? o.name : null,
    metadata: Object.keys(extra).length > 0 ? { extra } : {},
  };
}

/** A request's messages → what is stored, each checked as OpenAI checks it. */
export function toRequestMessages(messages: readonly unknown[]): StoredMessage[] {
  return messages.map((m, i) => toStoredMessage(m, i, messages));
}

const ROLES: ReadonlySet<string> = new Set(CHAT_ROLES);
const present = (v: unknown) => v !== undefined && v !== null;

/**
 * What OpenAI refuses in a request message, refused here too (400 naming the param), so a
 * recorded conversation never holds a turn no model could have been sent: a role outside
 * CHAT_ROLES, content that is not a string, null or an array of typed parts, a tool result
 * with no tool_call_id.
 */
export function checkRequestMessage(o: Record<string, unknown>, index: number): void {
  const at = `messages[${index}]`;
  const role = o.role as string;
  if (!ROLES.has(role))
    throw new BadMessage(
      `${at}.role must be one of: ${CHAT_ROLES.join(', ')} (got ${JSON.stringify(role.slice(0, 64))})`,
      `${at}.role`,
    );
  checkContent(o, role, at);
  if (role === 'tool' && (typeof o.tool_call_id !== 'string' || o.tool_call_id === ''))
    throw new BadMessage(`${at}.tool_call_id is required in a tool message`, `${at}.tool_call_id`);
  if (role === 'function' ? typeof o.name !== 'string' : present(o.name) && typeof o.name !== 'string')
    throw new BadMessage(`${at}.name must be a string`, `${at}.name`);
  if (present(o.tool_calls) && !Array.isArray(o.tool_calls))
    throw new BadMessage(`${at}.tool_calls must be an array`, `${at}.tool_calls`);
}

function checkContent(o: Record<string, unknown>, role: string, at: string): void {
  const content = o.content;
  if (typeof content === 'string') return;
  if (!present(content)) {
    // An assistant turn may carry its reply elsewhere: tool calls, a function call, a refusal, audio.
    const elsewhere = ['tool_calls', 'function_call', 'refusal', 'audio'].some((k) => present(o[k]));
    if (role === 'assistant' && elsewhere) return;
    throw new BadMessage(
      role === 'assistant'
        ? `${at}.content is required unless tool_calls or function_call is set`
        : `${at}.content is required in a ${role} message`,
      `${at}.content`,
    );
  }
  if (!Array.isArray(content))
    throw new BadMessage(
      `${at}.content must be a string, an array of content parts, or null`,
      `${at}.content`,
    );
  if (content.length === 0) throw new BadMessage(`${at}.content must not be an empty array`, `${at}.content`);
  content.forEach((part, j) => {
    const type = part && typeof part === 'object' ? (part as Record<string, unknown>).type : undefined;
    if (typeof type !== 'string' || type === '')
      throw new BadMessage(
        `${at}.content[${j}] must be an object with a string type`,
        `${at}.content[${j}].type`,
      );
  });
}

/**
 * The text hashed for a message. Tool calls are reduced to id, type, name and arguments in a
 * fixed order, because that is all a client sends back of the reply it got (SDKs rebuild the
 * objects and may reorder keys or add `index`).
 */
export function identity(m: StoredMessage): string {
  // The common message (text content, nothing else) skips JSON: on a 1000-message prompt,
  // stringifying each message was most of the cost of checking the prefix. The length
  // prefix keeps the two forms (and any role/content split) from ever colliding; JSON
  // text always starts with '['.
  const calls = toolCallIdentity(m.tool_calls);
  if (typeof m.content === 'string' && calls == null && m.tool_call_id === null && m.name === null)
    return `${m.role.length}:${m.role}${m.content}`;
  return JSON.stringify([m.role, m.content, calls, m.tool_call_id, m.name]);
}

function toolCallIdentity(calls: unknown): unknown {
  if (!Array.isArray(calls)) return calls;
  // vLLM answers `tool_calls: []` where clients send back none at all.
  if (calls.length === 0) return null;
  return calls.map((c) => {
    if (c === null || typeof c !== 'object') return c;
    const o = c as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } };
    return [o.id ?? null, o.type ?? 'function', o.function?.name ?? null, o.function?.arguments ?? null];
  });
}

/**
 * Feeds messages one by one and reads the prefix hash after any of them. Each message enters
 * as `<length>:<identity>`, so a sequence of messages has exactly one reading. Text is
 * gathered and handed to the hash in large pieces (one update per message cost more than
 * the hashing itself).
 */
export class PrefixHasher {
  private readonly hash: Hash = createHash('sha256');
  private pending: string[] = [];
  private pendingLength = 0;
  private fed = 0;

  get depth(): number {
    return this.fed;
  }

  push(m: StoredMessage): void {
    const id = identity(m);
    this.pending.push(`${id.length}:`, id);
    this.pendingLength += id.length;
    this.fed += 1;
    if (this.pendingLength > 1 << 16) this.flush();
  }

  /** The hash of everything pushed so far (the hasher stays usable). */
  current(): string {
    this.flush();
    return this.hash.copy().digest('base64url');
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.hash.update(this.pending.join(''));
    this.pending = [];
    this.pendingLength = 0;
  }
}
