/**
 * What the text formats (OpenAI chat, ATIF) read from a conversation: its final branch, and
 * message content as plain text.
 *
 * The store keeps every message ever sent, as a tree: when a prompt rewrote its history
 * (a summarised context, an edited turn) the new messages hang from an earlier parent. A
 * training example is one context the model actually saw, so the formats take the branch the
 * conversation ended on — the last call's context — not a mix of branches.
 */
import type { ExportCall, ExportConversation, ExportMessage } from './record.ts';

/** The last call (highest seq), or undefined for a conversation without calls. */
export function lastCall(conversation: ExportConversation): ExportCall | undefined {
  let last: ExportCall | undefined;
  for (const c of conversation.calls) if (!last || c.seq > last.seq) last = c;
  return last;
}

/**
 * The messages of the conversation's final context, root first: parent_seq followed back from
 * the last call's reply (or, when it produced none, the last message of its prompt).
 */
export function finalBranch(conversation: ExportConversation): ExportMessage[] {
  const call = lastCall(conversation);
  const tip = call ? (call.reply_seq ?? call.prompt_last_seq) : null;
  const bySeq = new Map(conversation.messages.map((m) => [m.seq, m]));
  const path: ExportMessage[] = [];
  const seen = new Set<number>();
  // `seen` guards against a corrupt parent cycle, which would otherwise loop forever.
  for (let seq = tip; seq !== null && !seen.has(seq); ) {
    const m = bySeq.get(seq);
    if (!m) break;
    seen.add(seq);
    path.push(m);
    seq = m.parent_seq;
  }
  return path.reverse();
}

const isTextPart = (p: unknown): p is { type: 'text'; text: string } =>
  typeof p === 'object' &&
  p !== null &&
  (p as { type?: unknown }).type === 'text' &&
  typeof (p as { text?: unknown }).text === 'string';

/**
 * Content as one string when it is text: a string as is, an array of text parts joined
 * (OpenAI concatenates them the same way), null as null. Anything else (an image part, an
 * unknown shape) is returned unchanged for the caller to decide.
 */
export function flattenText(content: unknown): unknown {
  if (Array.isArray(content) && content.every(isTextPart)) return content.map((p) => p.text).join('');
  return content;
}

/** Content as a string whatever it holds: text flattened, other shapes as their JSON. */
export function contentText(content: unknown): string {
  const flat = flattenText(content);
  if (flat === null || flat === undefined) return '';
  return typeof flat === 'string' ? flat : JSON.stringify(flat);
}
