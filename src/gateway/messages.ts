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

export class BadMessage extends Error {
  override name = 'BadMessage';
}

/** A request message → what is stored. Throws BadMessage for a message with no role. */
export function toStoredMessage(m: unknown, index: number): StoredMessage {
  if (m === null || typeof m !== 'object' || Array.isArray(m))
    throw new BadMessage(`messages[${index}] must be an object`);
  const o = m as Record<string, unknown>;
  if (typeof o.role !== 'string' || o.role === '')
    throw new BadMessage(`messages[${index}].role must be a string`);
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
