/**
 * The conversation store through the real HTTP gateway (scripted upstream, no network): each
 * message is stored once however long the conversation grows, every call's prompt can be rebuilt
 * from the tree (parent_seq), and history rewrites, summaries, retries and failed calls hang new
 * messages under the deepest stored message they still share.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  assertRebuilds,
  chat,
  converse,
  type Doc,
  type Msg,
  placement,
  rebuild,
  replyOf,
  snapshot,
  system,
  user,
} from './helpers/conversation-store.ts';
import { dbModes } from './helpers/db.ts';
import { claimTask, type GatewayHarness, startHarness, viaGateway } from './helpers/gateway.ts';

for (const mode of dbModes()) {
  describe(`gateway conversation store: history (${mode})`, () => {
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
  });
}
