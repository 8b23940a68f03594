/**
 * Helpers for the conversation-store tests: chat through the gateway with the scripted echo
 * model, wait for the records, rebuild a call's prompt by walking parent_seq, and the views the
 * assertions compare.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestApp } from './app.ts';
import { type Claimed, getJson, type Rows, taskConversations, user, viaGateway } from './gateway.ts';

export { user };

// biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary response JSON.
export type Doc = any;
export type Msg = Record<string, unknown>;

export const ECHO = 'scripted:echo';
export const system = (content: string): Msg => ({ role: 'system', content });

export const SHELL_TOOL = {
  type: 'function',
  function: {
    name: 'exec_shell',
    description: 'Runs a shell command',
    parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
  },
};

/** One chat call through the gateway; fails the test unless it answered 200. */
export async function chat(
  c: Claimed,
  messages: Msg[],
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<Doc> {
  const res = await viaGateway(c, { model: ECHO, messages, ...extra }, headers);
  assert.equal(res.status, 200, res.text);
  return JSON.parse(res.text);
}

/** The assistant turn a client appends: role and content exactly as choices[0].message gave them. */
export function replyOf(doc: Doc): Msg {
  const m = doc.choices[0].message;
  return { role: m.role, content: m.content };
}

interface Snapshot {
  conversation: Doc;
  calls: Rows;
  messages: Rows;
}

/**
 * The task's conversation under one key (exactly one must exist), its calls and its messages,
 * once `calls` calls are recorded: the gateway records a call after the client has its answer,
 * so the test waits (bounded) for the record rather than racing it.
 */
export async function snapshot(
  t: TestApp,
  taskId: string,
  calls: number,
  key = 'default',
): Promise<Snapshot> {
  let conversation: Doc;
  for (let i = 0; ; i++) {
    const conversations = await taskConversations(t, taskId);
    const hits = (conversations as Rows).filter((x) => x.conversation_key === key);
    assert.equal(hits.length, 1, `one conversation with key ${key}: ${JSON.stringify(conversations)}`);
    conversation = hits[0];
    if (conversation.call_count >= calls) break;
    if (i >= 400) assert.fail(`${calls} calls recorded within 10 s (${conversation.call_count} were)`);
    await sleep(25);
  }
  const id = conversation.id;
  const path = `/api/v1/llm-conversations/${id}/calls?limit=1000&include_response=false`;
  const [callRows, messageRows] = await Promise.all([
    getJson(t, path).then((b) => b.calls as Rows),
    getJson(t, `/api/v1/llm-conversations/${id}/messages`).then((b) => b.messages as Rows),
  ]);
  assert.equal(callRows.length, conversation.call_count, 'call rows match call_count');
  assert.equal(messageRows.length, conversation.message_count, 'message rows match message_count');
  return { conversation, calls: callRows, messages: messageRows };
}

/** A call's prompt rebuilt from the store: parent_seq followed back from prompt_last_seq. */
export function rebuild(messages: Rows, lastSeq: number | null): Rows {
  const bySeq = new Map<number, Doc>(messages.map((m) => [m.seq, m]));
  const out: Rows = [];
  let seq = lastSeq;
  while (seq !== null) {
    const m = bySeq.get(seq);
    assert.ok(m, `message ${seq} on the parent chain exists`);
    out.unshift(m);
    assert.ok(out.length <= messages.length, 'the parent chain has no cycle');
    seq = m.parent_seq;
  }
  return out;
}

/** What the model reads of a message (sent or stored): absent fields are null. */
export function view(m: Doc) {
  return {
    role: m.role,
    content: m.content ?? null,
    // What SDKs send back of a tool call (they may reorder keys and add `index`).
    tool_calls:
      m.tool_calls?.map((t: Doc) => ({
        id: t.id,
        type: t.type,
        function: { name: t.function.name, arguments: t.function.arguments },
      })) ?? null,
    tool_call_id: m.tool_call_id ?? null,
    name: m.name ?? null,
  };
}

export function assertRebuilds(messages: Rows, call: Doc, sent: Msg[], what: string): void {
  const rebuilt = rebuild(messages, call.prompt_last_seq);
  assert.deepEqual(rebuilt.map(view), sent.map(view), `${what}: the prompt rebuilt from the store`);
  assert.deepEqual(
    rebuilt.map((m) => m.depth),
    sent.map((_, i) => i + 1),
    `${what}: depths along the rebuilt prompt`,
  );
}

/** The call-row fields that say where a call's messages went. */
export function placement(call: Doc) {
  return {
    seq: call.seq,
    prefix_consistent: call.prefix_consistent,
    diverged_at: call.diverged_at,
    prompt_message_count: call.prompt_message_count,
    first_new_seq: call.first_new_seq,
    prompt_last_seq: call.prompt_last_seq,
    reply_seq: call.reply_seq,
  };
}

/** Runs `turns` echo turns from `start`, appending each reply and a new user message. */
export async function converse(c: Claimed, start: Msg[], turns: number, label: string): Promise<Msg[]> {
  const messages = [...start];
  for (let k = 1; k <= turns; k++) {
    const doc = await chat(c, messages);
    messages.push(replyOf(doc), user(`${label} ${k + 1}`));
  }
  return messages;
}

export function accumulate(text: string): Doc {
  const message: Doc = { role: 'assistant', content: null };
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const chunk = JSON.parse(line.slice('data: '.length));
    for (const choice of chunk.choices ?? []) {
      const d = choice.delta ?? {};
      if (typeof d.role === 'string') message.role = d.role;
      if (typeof d.content === 'string') message.content = (message.content ?? '') + d.content;
      for (const t of d.tool_calls ?? []) {
        message.tool_calls ??= [];
        message.tool_calls[t.index] ??= {
          index: t.index,
          id: t.id,
          type: t.type,
          function: { name: '', arguments: '' },
        };
        const slot = message.tool_calls[t.index];
        slot.function.name += t.function?.name ?? '';
        slot.function.arguments += t.function?.arguments ?? '';
      }
    }
  }
  return message;
}
