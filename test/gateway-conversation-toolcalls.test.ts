/**
 * The conversation store with tool calls and concurrency: tool-call replies sent back the way SDKs
 * rebuild them (key order, index, extra keys, content null or absent) still extend the
 * conversation, and concurrent calls on one conversation each get their own seqs.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  accumulate,
  assertRebuilds,
  chat,
  type Doc,
  type Msg,
  placement,
  replyOf,
  SHELL_TOOL,
  snapshot,
  system,
  user,
} from './helpers/conversation-store.ts';
import { dbModes } from './helpers/db.ts';
import {
  claimTask,
  type GatewayHarness,
  startHarness,
  taskConversations,
  viaGateway,
} from './helpers/gateway.ts';

for (const mode of dbModes()) {
  describe(`gateway conversation store: tool calls and concurrency (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

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
      const conversations = await taskConversations(h.t, c.task.id);
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
