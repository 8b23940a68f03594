/**
 * The conversation store through the real HTTP gateway, with the built-in scripted upstream (no
 * network): each message is stored once however long the conversation grows, every call's prompt
 * can be rebuilt from the tree (parent_seq), history rewrites and retries hang new messages under
 * the deepest stored message they still share, tool-call replies sent back the way SDKs rebuild
 * them still match, and concurrent calls on one conversation each get their own seqs.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import {
  type Claimed,
  claimTask,
  type GatewayHarness,
  getJson,
  type Rows,
  startHarness,
  viaGateway,
} from './helpers/gateway.ts';

// biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary response JSON.
type Doc = any;
type Msg = Record<string, unknown>;

const ECHO = 'scripted:echo';
const system = (content: string): Msg => ({ role: 'system', content });
const user = (content: string): Msg => ({ role: 'user', content });

const SHELL_TOOL = {
  type: 'function',
  function: {
    name: 'exec_shell',
    description: 'Runs a shell command',
    parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
  },
};

/** One chat call through the gateway; fails the test unless it answered 200. */
async function chat(
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
function replyOf(doc: Doc): Msg {
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
async function snapshot(t: TestApp, taskId: string, calls: number, key = 'default'): Promise<Snapshot> {
  let conversation: Doc;
  for (let i = 0; ; i++) {
    const { conversations } = await getJson(t, `/api/v1/llm-conversations/task/${taskId}/conversations`);
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
function rebuild(messages: Rows, lastSeq: number | null): Rows {
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
function view(m: Doc) {
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

function assertRebuilds(messages: Rows, call: Doc, sent: Msg[], what: string): void {
  const rebuilt = rebuild(messages, call.prompt_last_seq);
  assert.deepEqual(rebuilt.map(view), sent.map(view), `${what}: the prompt rebuilt from the store`);
  assert.deepEqual(
    rebuilt.map((m) => m.depth),
    sent.map((_, i) => i + 1),
    `${what}: depths along the rebuilt prompt`,
  );
}

/** The call-row fields that say where a call's messages went. */
function placement(call: Doc) {
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
async function converse(c: Claimed, start: Msg[], turns: number, label: string): Promise<Msg[]> {
  const messages = [...start];
  for (let k = 1; k <= turns; k++) {
    const doc = await chat(c, messages);
    messages.push(replyOf(doc), user(`${label} ${k + 1}`));
  }
  return messages;
}

for (const mode of dbModes()) {
  describe(`gateway conversation store (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

    it('stores a 200-turn agent conversation once: 401 messages, each call a prefix-consistent delta', async () => {
      const TURNS = 200;
      const c = await claimTask(h.t);
      const messages: Msg[] = [system('You are a careful SRE agent.'), user('turn 1: what is failing?')];
      const sent: Msg[][] = [];
      const replies: Doc[] = [];
      for (let k = 1; k <= TURNS; k++) {
        sent.push([...messages]);
        const doc = await chat(c, messages);
        assert.equal(doc.choices[0].message.content, `echo: turn ${k}: what is failing?`);
        replies.push(doc.choices[0].message);
        // Half the turns send the reply back as the SDK hands it over (refusal, annotations…):
        // keys outside a message's identity must not make it "different".
        messages.push(k % 2 === 0 ? { ...doc.choices[0].message } : replyOf(doc));
        messages.push(user(`turn ${k + 1}: what is failing?`));
      }

      const { conversation, calls, messages: stored } = await snapshot(h.t, c.task.id, TURNS);
      assert.equal(conversation.message_count, 1 + 2 * TURNS);
      assert.equal(conversation.call_count, TURNS);
      assert.equal(stored.length, 1 + 2 * TURNS);
      const wrongLinks = stored.filter(
        (m, i) => m.seq !== i + 1 || m.parent_seq !== (i === 0 ? null : i) || m.depth !== i + 1,
      );
      assert.deepEqual(wrongLinks, [], 'seq 1..401, parent_seq = seq − 1, depth = seq');
      const expectedRoles = stored.map((_, i) => (i === 0 ? 'system' : i % 2 === 1 ? 'user' : 'assistant'));
      assert.deepEqual(
        stored.map((m) => m.role),
        expectedRoles,
      );
      assert.deepEqual(
        stored.filter((m) => m.role === 'assistant').map((m) => m.content),
        replies.map((r) => r.content),
        'each reply stored once, in order',
      );
      assert.deepEqual(
        stored.filter((m) => m.role === 'assistant').map((m) => m.metadata.extra),
        replies.map(() => ({ refusal: null, annotations: [] })),
        'the reply keeps the response message’s other keys as metadata',
      );

      assert.equal(calls.length, TURNS);
      const wrongCalls = calls
        .map((call, i) => {
          const k = i + 1;
          const want = {
            seq: k,
            prefix_consistent: true,
            diverged_at: null,
            prompt_message_count: 2 * k,
            first_new_seq: k === 1 ? 1 : 2 * k,
            prompt_last_seq: 2 * k,
            reply_seq: 2 * k + 1,
          };
          return { k, got: placement(call), want };
        })
        .filter((x) => JSON.stringify(x.got) !== JSON.stringify(x.want));
      assert.deepEqual(wrongCalls, [], 'every call: consistent, its new messages and reply where expected');
      assert.ok(
        calls.every((call) => call.end_reason === 'done' && call.status === 200),
        'every call ended done with 200',
      );

      for (const k of [1, 2, 100, 199, 200]) {
        const call = calls[k - 1];
        const prompt = sent[k - 1]!;
        assertRebuilds(stored, call, prompt, `call ${k}`);
        assert.equal(stored[call.reply_seq - 1].parent_seq, call.prompt_last_seq, `call ${k}: reply hangs`);
      }
    });

    it('stores only what follows the divergence when a prompt rewrites message 2, then is consistent again', async () => {
      const c = await claimTask(h.t);
      const base = await converse(c, [system('sys'), user('q 1')], 3, 'q');
      // base = sys, q1, a1, q2, a2, q3, a3, q4 — stored: sys(1) q1(2) a1(3) q2(4) a2(5) q3(6) a3(7)
      assert.equal((await snapshot(h.t, c.task.id, 3)).conversation.message_count, 7);

      const rewritten = [base[0]!, user('q 1, rephrased'), ...base.slice(2)];
      const doc = await chat(c, rewritten);
      const { conversation, calls, messages: stored } = await snapshot(h.t, c.task.id, 4);
      assert.deepEqual(placement(calls[3]), {
        seq: 4,
        prefix_consistent: false,
        diverged_at: 1,
        prompt_message_count: 8,
        first_new_seq: 8,
        prompt_last_seq: 14,
        reply_seq: 15,
      });
      assert.equal(conversation.message_count, 15, 'only the 7 messages after the divergence and the reply');
      assert.equal(stored.length, 15);
      assert.deepEqual(
        stored.slice(7).map((m) => [m.seq, m.parent_seq, m.depth]),
        [8, 9, 10, 11, 12, 13, 14, 15].map((s) => [s, s === 8 ? 1 : s - 1, s - 6]),
        'the new branch hangs under the last matching message (the system message, seq 1)',
      );
      assertRebuilds(stored, calls[3], rewritten, 'rewritten call');

      const extended = [...rewritten, replyOf(doc), user('q 5')];
      await chat(c, extended);
      const after = await snapshot(h.t, c.task.id, 5);
      assert.deepEqual(placement(after.calls[4]), {
        seq: 5,
        prefix_consistent: true,
        diverged_at: null,
        prompt_message_count: 10,
        first_new_seq: 16,
        prompt_last_seq: 16,
        reply_seq: 17,
      });
      assertRebuilds(after.messages, after.calls[4], extended, 'extended call');
    });

    it('hangs a summarised prompt (middle dropped) under the last shared message; branches stay rebuildable', async () => {
      const c = await claimTask(h.t);
      const base = await converse(c, [system('sys'), user('q 1')], 3, 'q');
      // Stored: sys(1) q1(2) a1(3) q2(4) a2(5) q3(6) a3(7); base ends with q4.
      const summarised = [...base.slice(0, 3), user('Summary of what happened so far.'), ...base.slice(5)];
      // = sys, q1, a1, summary, q3, a3, q4: the first 3 match stored context.
      const doc = await chat(c, summarised);
      let { conversation, calls, messages: stored } = await snapshot(h.t, c.task.id, 4);
      assert.deepEqual(placement(calls[3]), {
        seq: 4,
        prefix_consistent: false,
        diverged_at: 3,
        prompt_message_count: 7,
        first_new_seq: 8,
        prompt_last_seq: 11,
        reply_seq: 12,
      });
      assert.equal(conversation.message_count, 12);
      assert.equal(stored.length, 12);
      assert.equal(stored[7].parent_seq, 3, 'the first new message hangs under a1 (seq 3)');
      assert.equal(stored[7].depth, 4);
      assertRebuilds(stored, calls[3], summarised, 'summarised call');

      const next = [...summarised, replyOf(doc), user('q 5')];
      await chat(c, next);
      // A new system message: nothing matches, the new context starts a new root.
      const fresh = [system('a different system prompt'), user('q 1')];
      await chat(c, fresh);
      // Back to the original branch: it still matches up to a3 (depth 7, seq 7).
      await chat(c, base);
      ({ conversation, calls, messages: stored } = await snapshot(h.t, c.task.id, 7));
      assert.deepEqual(calls.slice(4).map(placement), [
        {
          seq: 5,
          prefix_consistent: true,
          diverged_at: null,
          prompt_message_count: 9,
          first_new_seq: 13,
          prompt_last_seq: 13,
          reply_seq: 14,
        },
        {
          seq: 6,
          prefix_consistent: false,
          diverged_at: 0,
          prompt_message_count: 2,
          first_new_seq: 15,
          prompt_last_seq: 16,
          reply_seq: 17,
        },
        {
          seq: 7,
          prefix_consistent: false,
          diverged_at: 7,
          prompt_message_count: 8,
          first_new_seq: 18,
          prompt_last_seq: 18,
          reply_seq: 19,
        },
      ]);
      assert.equal(stored[14].parent_seq, null, 'a prompt sharing nothing starts a new root');
      assert.equal(stored[17].parent_seq, 7, 'the old branch continues under a3');
      assertRebuilds(stored, calls[4], next, 'call extending the summary');
      assertRebuilds(stored, calls[5], fresh, 'call with a new system message');
      assertRebuilds(stored, calls[6], base, 'call back on the original branch');
      assert.equal(conversation.message_count, 19);
    });

    it('stores only the new reply when the same prompt is retried, as a branch beside the first reply', async () => {
      const c = await claimTask(h.t);
      const prompt = [system('sys'), user('q 1')];
      const first = await chat(c, prompt);
      const retry = await chat(c, prompt);
      assert.equal(retry.choices[0].message.content, first.choices[0].message.content);
      const { conversation, calls, messages: stored } = await snapshot(h.t, c.task.id, 2);
      // The retry's prompt is all stored context, but it does not extend the head (it drops the
      // first reply): not prefix-consistent, diverged_at = the whole prompt, nothing re-stored.
      assert.deepEqual(calls.map(placement), [
        {
          seq: 1,
          prefix_consistent: true,
          diverged_at: null,
          prompt_message_count: 2,
          first_new_seq: 1,
          prompt_last_seq: 2,
          reply_seq: 3,
        },
        {
          seq: 2,
          prefix_consistent: false,
          diverged_at: 2,
          prompt_message_count: 2,
          first_new_seq: 4,
          prompt_last_seq: 2,
          reply_seq: 4,
        },
      ]);
      assert.equal(conversation.message_count, 4);
      assert.deepEqual(
        stored.map((m) => [m.seq, m.role, m.parent_seq, m.depth]),
        [
          [1, 'system', null, 1],
          [2, 'user', 1, 2],
          [3, 'assistant', 2, 3],
          [4, 'assistant', 2, 3],
        ],
        'the retried reply is a sibling of the first',
      );

      // The agent goes on from the retried reply: that extends the head again.
      const next = [...prompt, replyOf(retry), user('q 2')];
      await chat(c, next);
      const after = await snapshot(h.t, c.task.id, 3);
      assert.deepEqual(placement(after.calls[2]), {
        seq: 3,
        prefix_consistent: true,
        diverged_at: null,
        prompt_message_count: 4,
        first_new_seq: 5,
        prompt_last_seq: 5,
        reply_seq: 6,
      });
      const rebuilt = rebuild(after.messages, after.calls[2].prompt_last_seq);
      assert.deepEqual(
        rebuilt.map((m) => m.seq),
        [1, 2, 4, 5],
        'the context runs through the retry’s reply',
      );
    });

    it('stores the prompt of a call that failed upstream, and the retry of that prompt is consistent', async () => {
      const c = await claimTask(h.t);
      const prompt = [system('sys'), user('q 1')];
      for (let i = 0; i < 2; i++) {
        const failed = await viaGateway(c, { model: 'fake-error-500', messages: prompt });
        assert.equal(failed.status, 500, failed.text);
      }
      const ok = await chat(c, prompt);
      const next = [...prompt, replyOf(ok), user('q 2')];
      const failedAgain = await viaGateway(c, { model: 'fake-error-500', messages: next });
      assert.equal(failedAgain.status, 500, failedAgain.text);
      await chat(c, next);

      const { conversation, calls, messages: stored } = await snapshot(h.t, c.task.id, 5);
      assert.deepEqual(
        calls.map((x) => [x.status, x.end_reason]),
        [
          [500, 'upstream_error'],
          [500, 'upstream_error'],
          [200, 'done'],
          [500, 'upstream_error'],
          [200, 'done'],
        ],
      );
      assert.deepEqual(calls.map(placement), [
        {
          seq: 1,
          prefix_consistent: true,
          diverged_at: null,
          prompt_message_count: 2,
          first_new_seq: 1,
          prompt_last_seq: 2,
          reply_seq: null,
        },
        {
          seq: 2,
          prefix_consistent: true,
          diverged_at: null,
          prompt_message_count: 2,
          first_new_seq: null,
          prompt_last_seq: 2,
          reply_seq: null,
        },
        {
          seq: 3,
          prefix_consistent: true,
          diverged_at: null,
          prompt_message_count: 2,
          first_new_seq: 3,
          prompt_last_seq: 2,
          reply_seq: 3,
        },
        {
          seq: 4,
          prefix_consistent: true,
          diverged_at: null,
          prompt_message_count: 4,
          first_new_seq: 4,
          prompt_last_seq: 4,
          reply_seq: null,
        },
        {
          seq: 5,
          prefix_consistent: true,
          diverged_at: null,
          prompt_message_count: 4,
          first_new_seq: 5,
          prompt_last_seq: 4,
          reply_seq: 5,
        },
      ]);
      assert.equal(conversation.message_count, 5);
      assert.deepEqual(
        stored.map((m) => [m.seq, m.role, m.parent_seq]),
        [
          [1, 'system', null],
          [2, 'user', 1],
          [3, 'assistant', 2],
          [4, 'user', 3],
          [5, 'assistant', 4],
        ],
      );
      assertRebuilds(stored, calls[4], next, 'the successful retry');
    });

    it('matches a tool-call reply sent back the way SDKs rebuild it (key order, index, extra keys)', async () => {
      const c = await claimTask(h.t);
      const tools = { model: 'scripted:tools', tools: [SHELL_TOOL] };
      for (const stream of [false, true]) {
        const key = stream ? 'streamed' : 'plain';
        const headers = { 'x-conversation-id': key };
        const prompt = [system('You run shell commands.'), user('list the pods')];
        let message: Doc;
        if (stream) {
          const res = await viaGateway(c, { ...tools, stream: true, messages: prompt }, headers);
          assert.equal(res.status, 200, res.text);
          message = accumulate(res.text);
        } else {
          message = (await chat(c, prompt, tools, headers)).choices[0].message;
        }
        assert.equal(message.tool_calls?.length, 1, `${key}: the model called a tool`);
        const call = message.tool_calls[0];
        // As an SDK sends the assistant turn back: keys in another order, `index` in each call,
        // the message's other keys (refusal, audio…) along.
        const sentBack: Msg = {
          tool_calls: message.tool_calls.map((t: Doc, index: number) => ({
            function: { arguments: t.function.arguments, name: t.function.name },
            index,
            type: t.type,
            id: t.id,
          })),
          audio: null,
          content: message.content,
          role: message.role,
          refusal: null,
        };
        const withResult = [
          ...prompt,
          sentBack,
          { role: 'tool', tool_call_id: call.id, content: 'pod-a Running' },
        ];
        const answer = await chat(c, withResult, tools, headers);
        assert.equal(answer.choices[0].message.content, 'The tool returned: pod-a Running');
        const after = [...withResult, replyOf(answer), user('thanks')];
        await chat(c, after, tools, headers);

        const { calls, messages: stored } = await snapshot(h.t, c.task.id, 3, key);
        assert.deepEqual(
          calls.map((x) => [
            x.prefix_consistent,
            x.diverged_at,
            x.first_new_seq,
            x.prompt_last_seq,
            x.reply_seq,
          ]),
          [
            [true, null, 1, 2, 3],
            [true, null, 4, 4, 5],
            [true, null, 6, 6, 7],
          ],
          `${key}: every call extends the previous one`,
        );
        assert.equal(stored.length, 7, `${key}: each message stored once`);
        assert.equal(stored[2].role, 'assistant');
        assert.deepEqual(
          stored[2].tool_calls.map((t: Doc) => [t.id, t.type, t.function.name, t.function.arguments]),
          message.tool_calls.map((t: Doc) => [t.id, t.type, t.function.name, t.function.arguments]),
          `${key}: the stored reply holds the tool call`,
        );
        assert.equal(stored[3].role, 'tool');
        assert.equal(stored[3].tool_call_id, call.id);
        assertRebuilds(stored, calls[2], after, `${key}: last call`);
      }
    });

    it('matches a client-authored tool-call turn with content null, then absent, keys reordered', async () => {
      const c = await claimTask(h.t);
      const toolCall = {
        id: 'call_1',
        type: 'function',
        function: { name: 'exec_shell', arguments: '{"command":"ls"}' },
      };
      const history = [
        system('sys'),
        user('q 1'),
        { role: 'assistant', content: null, tool_calls: [toolCall] },
        { role: 'tool', tool_call_id: 'call_1', content: 'a b c' },
        user('q 2'),
      ];
      const doc = await chat(c, history);
      const resent = [
        ...history.slice(0, 2),
        {
          tool_calls: [
            {
              index: 0,
              function: { arguments: '{"command":"ls"}', name: 'exec_shell' },
              id: 'call_1',
              type: 'function',
            },
          ],
          role: 'assistant',
        },
        { content: 'a b c', tool_call_id: 'call_1', role: 'tool' },
        user('q 2'),
        replyOf(doc),
        user('q 3'),
      ];
      await chat(c, resent);
      const { conversation, calls } = await snapshot(h.t, c.task.id, 2);
      assert.deepEqual(calls.map(placement)[1], {
        seq: 2,
        prefix_consistent: true,
        diverged_at: null,
        prompt_message_count: 7,
        first_new_seq: 7,
        prompt_last_seq: 7,
        reply_seq: 8,
      });
      assert.equal(conversation.message_count, 8);
    });

    it('records 8 concurrent calls on one conversation with unique call and message seqs', async () => {
      const N = 8;
      const c = await claimTask(h.t);
      const prompts = Array.from({ length: N }, (_, i) => [
        system('shared system prompt'),
        user(`question ${i}`),
      ]);
      // The first calls of the attempt: the conversation itself is created by a race, too.
      const docs = await Promise.all(prompts.map((p) => chat(c, p)));
      assert.deepEqual(
        docs.map((d) => d.choices[0].message.content),
        prompts.map((p) => `echo: ${p[1]!.content}`),
      );

      const { conversation, calls, messages: stored } = await snapshot(h.t, c.task.id, N);
      const { conversations } = await getJson(
        h.t,
        `/api/v1/llm-conversations/task/${c.task.id}/conversations`,
      );
      assert.equal(conversations.length, 1, 'one conversation despite the racing first calls');
      assert.equal(conversation.call_count, N);
      assert.deepEqual(
        calls.map((x) => x.seq),
        Array.from({ length: N }, (_, i) => i + 1),
        'call seqs 1..8',
      );
      assert.deepEqual(
        stored.map((m) => m.seq),
        Array.from({ length: stored.length }, (_, i) => i + 1),
        'message seqs unique and gapless',
      );
      assert.equal(conversation.message_count, stored.length, 'message_count equals the rows stored');
      // The shared system message once, then per call its question and its reply.
      assert.equal(stored.length, 1 + 2 * N);
      assert.equal(stored.filter((m) => m.role === 'system').length, 1, 'the shared prefix is stored once');
      assert.deepEqual(
        calls.map((x) => [x.prefix_consistent, x.diverged_at]),
        calls.map((x) => (x.seq === 1 ? [true, null] : [false, 1])),
        'the first call recorded starts the conversation; the others branch after the system message',
      );

      const byReply = new Map(prompts.map((p) => [`echo: ${p[1]!.content}`, p]));
      for (const call of calls) {
        const reply = stored[call.reply_seq - 1];
        const prompt = byReply.get(reply.content);
        assert.ok(prompt, `call ${call.seq}: its reply ${JSON.stringify(reply.content)} answers one prompt`);
        byReply.delete(reply.content);
        assertRebuilds(stored, call, prompt, `concurrent call ${call.seq}`);
      }
      assert.equal(byReply.size, 0, 'every prompt was recorded');
    });
  });
}

/** The assistant message an SDK accumulates from a stream (tool calls keep their `index`). */
function accumulate(text: string): Doc {
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
