/**
 * The seed's five conversation read endpoints and `/calls`, on data recorded through the gateway:
 * filters, paging, messages by role, stats that add up to the calls' usage and prices, success.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createConversationStore } from '../src/gateway/conversations.ts';
import { FAKE_CHAT_CONTENT } from './fixtures/fake-llm.ts';
import type { Body } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import {
  byKey,
  type Claimed,
  claimTask,
  converse,
  type GatewayHarness,
  getJson,
  getStatus,
  near,
  report,
  startHarness,
  taskConversations,
  waitForTaskCalls,
} from './helpers/gateway.ts';

for (const mode of dbModes()) {
  describe(`conversation read endpoints on recorded data (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode, { LLM_PRICES: JSON.stringify({ 'fake-chat': { input: 1, output: 2 } }) });
    });
    afterEach(() => h.close());

    interface World {
      a: Claimed;
      b: Claimed;
      c: Claimed;
      /** Conversation ids in creation order: a default, a critic, b default, c default. */
      ids: { aDefault: string; aCritic: string; bDefault: string; cDefault: string };
    }

    /** Three tasks, four conversations, two models (scripted:echo and the priced fake-chat). */
    async function populate(): Promise<World> {
      const a = await claimTask(h.t, { problem_id: 'p-alpha' });
      await converse(a, 'scripted:echo', 3);
      await converse(a, 'fake-chat', 1, { 'x-conversation-id': 'critic' }, 'check');
      const b = await claimTask(h.t, { problem_id: 'p-beta' });
      await converse(b, 'fake-chat', 2);
      const c = await claimTask(h.t, { problem_id: 'p-gamma' });
      await converse(c, 'scripted:echo', 1);
      await waitForTaskCalls(h.t, a.task.id, 4);
      await waitForTaskCalls(h.t, b.task.id, 2);
      await waitForTaskCalls(h.t, c.task.id, 1);
      const convOf = async (task: Claimed, key: string) =>
        byKey(await taskConversations(h.t, task.task.id), key).id as string;
      return {
        a,
        b,
        c,
        ids: {
          aDefault: await convOf(a, 'default'),
          aCritic: await convOf(a, 'critic'),
          bDefault: await convOf(b, 'default'),
          cDefault: await convOf(c, 'default'),
        },
      };
    }

    it('lists conversations newest first, filtered by task and model, paged with a total', async () => {
      const w = await populate();
      const newestFirst = [w.ids.cDefault, w.ids.bDefault, w.ids.aCritic, w.ids.aDefault];

      const all = await getJson(h.t, '/api/v1/llm-conversations');
      assert.equal(all.total, 4);
      assert.deepEqual(
        all.conversations.map((x: Body) => x.id),
        newestFirst,
      );

      const first = await getJson(h.t, '/api/v1/llm-conversations?limit=3&offset=0');
      const second = await getJson(h.t, '/api/v1/llm-conversations?limit=3&offset=3');
      assert.deepEqual([first.total, first.limit, first.offset, first.page], [4, 3, 0, 1]);
      assert.deepEqual([second.total, second.limit, second.offset, second.page], [4, 3, 3, 2]);
      assert.deepEqual(
        [...first.conversations, ...second.conversations].map((x: Body) => x.id),
        newestFirst,
        'the pages tile the list',
      );
      const beyond = await getJson(h.t, '/api/v1/llm-conversations?limit=3&offset=9');
      assert.deepEqual([beyond.conversations.length, beyond.total], [0, 4]);

      const ofA = await getJson(h.t, `/api/v1/llm-conversations?task_id=${w.a.task.id}`);
      assert.equal(ofA.total, 2);
      assert.deepEqual(
        ofA.conversations.map((x: Body) => x.id),
        [w.ids.aCritic, w.ids.aDefault],
      );
      const echo = await getJson(
        h.t,
        `/api/v1/llm-conversations?model_name=${encodeURIComponent('scripted:echo')}`,
      );
      assert.equal(echo.total, 2);
      assert.deepEqual(
        echo.conversations.map((x: Body) => x.id),
        [w.ids.cDefault, w.ids.aDefault],
      );
      const both = await getJson(
        h.t,
        `/api/v1/llm-conversations?model_name=fake-chat&task_id=${w.a.task.id}`,
      );
      assert.deepEqual([both.total, both.conversations.map((x: Body) => x.id)], [1, [w.ids.aCritic]]);
      const pagedFilter = await getJson(
        h.t,
        '/api/v1/llm-conversations?model_name=fake-chat&limit=1&offset=1',
      );
      assert.deepEqual(
        [pagedFilter.total, pagedFilter.conversations.map((x: Body) => x.id)],
        [2, [w.ids.aCritic]],
        'the total counts the filtered rows, not the page',
      );
      const none = await getJson(h.t, '/api/v1/llm-conversations?model_name=gpt-none');
      assert.deepEqual([none.total, none.conversations.length], [0, 0]);

      const bad = await getStatus(`${h.t.url}/api/v1/llm-conversations?task_id=not-a-uuid`);
      assert.equal(bad.status, 422, bad.text);
    });

    it('serves one conversation with its messages in seq order, and its messages by role', async () => {
      const w = await populate();
      const conv = await getJson(h.t, `/api/v1/llm-conversations/${w.ids.aDefault}`);
      assert.equal(conv.id, w.ids.aDefault);
      assert.equal(conv.task_id, w.a.task.id);
      assert.equal(conv.model_name, 'scripted:echo');
      assert.equal(conv.call_count, 3);
      assert.equal(conv.message_count, 6);
      assert.deepEqual(
        conv.messages.map((m: Body) => [m.seq, m.role, m.content, m.parent_seq, m.depth]),
        [
          [1, 'user', 'turn 0', null, 1],
          [2, 'assistant', 'echo: turn 0', 1, 2],
          [3, 'user', 'turn 1', 2, 3],
          [4, 'assistant', 'echo: turn 1', 3, 4],
          [5, 'user', 'turn 2', 4, 5],
          [6, 'assistant', 'echo: turn 2', 5, 6],
        ],
      );
      for (const m of conv.messages) assert.equal(m.conversation_id, w.ids.aDefault);

      const assistant = await getJson(
        h.t,
        `/api/v1/llm-conversations/${w.ids.aDefault}/messages?role=assistant`,
      );
      assert.equal(assistant.conversation_id, w.ids.aDefault);
      assert.deepEqual(
        assistant.messages.map((m: Body) => [m.seq, m.role, m.content]),
        [
          [2, 'assistant', 'echo: turn 0'],
          [4, 'assistant', 'echo: turn 1'],
          [6, 'assistant', 'echo: turn 2'],
        ],
      );
      const everyone = await getJson(h.t, `/api/v1/llm-conversations/${w.ids.aDefault}/messages`);
      assert.equal(everyone.messages.length, 6);
      const system = await getJson(h.t, `/api/v1/llm-conversations/${w.ids.aDefault}/messages?role=system`);
      assert.deepEqual(system.messages, []);

      const b = await getJson(h.t, `/api/v1/llm-conversations/${w.ids.bDefault}/messages?role=assistant`);
      assert.deepEqual(
        b.messages.map((m: Body) => m.content),
        [FAKE_CHAT_CONTENT, FAKE_CHAT_CONTENT],
      );

      const unknown = randomUUID();
      for (const path of [`/${unknown}`, `/${unknown}/messages`, `/${unknown}/messages?role=assistant`]) {
        const r = await getStatus(`${h.t.url}/api/v1/llm-conversations${path}`);
        assert.equal(r.status, 404, `${path}: ${r.text}`);
      }
    });

    it('serves a task’s conversations as a list, newest first, with the count in X-Total-Count', async () => {
      const w = await populate();
      const path = (id: string) => `${h.t.url}/api/v1/llm-conversations/task/${id}/conversations`;
      const ofA = await getStatus(path(w.a.task.id));
      assert.equal(ofA.status, 200, ofA.text);
      assert.equal(ofA.headers.get('x-total-count'), '2');
      const listA = JSON.parse(ofA.text);
      assert.ok(Array.isArray(listA), 'a bare list, as the Python task executor answered');
      assert.deepEqual(
        listA.map((x: Body) => [x.id, x.task_id, x.conversation_key, x.model_name]),
        [
          [w.ids.aCritic, w.a.task.id, 'critic', 'fake-chat'],
          [w.ids.aDefault, w.a.task.id, 'default', 'scripted:echo'],
        ],
      );
      assert.deepEqual(
        (await taskConversations(h.t, w.b.task.id)).map((x: Body) => x.id),
        [w.ids.bDefault],
      );

      const bare = await claimTask(h.t, { problem_id: 'p-quiet' });
      const none = await getStatus(path(bare.task.id));
      assert.deepEqual(
        [none.status, none.headers.get('x-total-count'), JSON.parse(none.text)],
        [200, '0', []],
      );

      const unknown = await getStatus(path(randomUUID()));
      assert.equal(unknown.status, 404, unknown.text);
      assert.equal(JSON.parse(unknown.text).code, 'TASK_NOT_FOUND');
      const bad = await getStatus(path('not-a-uuid'));
      assert.equal(bad.status, 422, bad.text);
    });

    it('pages a conversation’s calls with after_seq and leaves responses out on request', async () => {
      const w = await populate();
      const base = `/api/v1/llm-conversations/${w.ids.aDefault}/calls`;
      const all = await getJson(h.t, base);
      assert.equal(all.conversation_id, w.ids.aDefault);
      assert.deepEqual(
        all.calls.map((x: Body) => [x.seq, x.response.choices[0].message.content, x.end_reason, x.status]),
        [
          [1, 'echo: turn 0', 'done', 200],
          [2, 'echo: turn 1', 'done', 200],
          [3, 'echo: turn 2', 'done', 200],
        ],
      );
      assert.deepEqual(
        all.calls.map((x: Body) => [x.prompt_message_count, x.first_new_seq, x.reply_seq, x.prompt_last_seq]),
        [
          [1, 1, 2, 1],
          [3, 3, 4, 3],
          [5, 5, 6, 5],
        ],
      );

      const page1 = await getJson(h.t, `${base}?limit=2`);
      assert.deepEqual(
        page1.calls.map((x: Body) => x.seq),
        [1, 2],
      );
      const page2 = await getJson(h.t, `${base}?limit=2&after_seq=2`);
      assert.deepEqual(
        page2.calls.map((x: Body) => x.seq),
        [3],
      );
      const page3 = await getJson(h.t, `${base}?limit=2&after_seq=3`);
      assert.deepEqual(page3.calls, []);

      const lean = await getJson(h.t, `${base}?include_response=false`);
      assert.equal(lean.calls.length, 3);
      for (const x of lean.calls) {
        assert.equal(x.response, null, `call ${x.seq} without its response`);
        assert.deepEqual(x.usage, all.calls[x.seq - 1].usage, 'the rest of the call is still there');
        assert.equal(x.prompt_tokens, all.calls[x.seq - 1].prompt_tokens);
      }
      // The store itself (the feed's full payloads use it without a response schema to filter
      // it): exactly a Call's fields, never the export's packed token columns, whichever way.
      await h.t.db.query(
        `UPDATE llm_calls SET prompt_token_ids = '\\x01000000'::bytea WHERE conversation_id = $1`,
        [w.ids.aDefault],
      );
      const store = createConversationStore(h.t.db);
      for (const includeResponse of [true, false]) {
        const calls = await store.calls(w.ids.aDefault, { afterSeq: -1, limit: 10, includeResponse });
        assert.equal(calls.length, 3);
        for (const call of calls) {
          assert.deepEqual(Object.keys(call).sort(), Object.keys(all.calls[0]).sort());
          assert.equal(
            call.response === null,
            !includeResponse,
            `response with include_response=${includeResponse}`,
          );
        }
      }

      const unknown = await getStatus(`${h.t.url}/api/v1/llm-conversations/${randomUUID()}/calls`);
      assert.equal(unknown.status, 404, unknown.text);
      const badAfter = await getStatus(`${h.t.url}${base}?after_seq=-1`);
      assert.equal(badAfter.status, 422, badAfter.text);
    });

    it('sums tokens, cost and success in the stats summary', async () => {
      const w = await populate();
      const { conversations } = await getJson(h.t, '/api/v1/llm-conversations?limit=100');
      const calls: Body[] = [];
      let messages = 0;
      for (const conv of conversations) {
        calls.push(...(await getJson(h.t, `/api/v1/llm-conversations/${conv.id}/calls`)).calls);
        messages += (await getJson(h.t, `/api/v1/llm-conversations/${conv.id}`)).messages.length;
      }
      assert.equal(calls.length, 7);
      const sum = (f: (x: Body) => number) => calls.reduce((n, x) => n + f(x), 0);

      // Priced calls: prompt × $1 + completion × $2 per million tokens; scripted calls are free.
      for (const x of calls) {
        if (x.model_requested === 'fake-chat') {
          assert.ok(x.prompt_tokens > 0 && x.completion_tokens > 0, `tokens of call ${x.id}`);
          near(
            x.cost,
            x.usage.prompt_tokens * 1e-6 + x.usage.completion_tokens * 2e-6,
            `cost of call ${x.id}`,
          );
        } else assert.equal(x.cost, 0, `scripted call ${x.id} is free`);
      }
      const pricedCost = sum((x) => x.cost);
      assert.ok(pricedCost > 0, 'the priced calls cost something');
      const bConv = await getJson(h.t, `/api/v1/llm-conversations/${w.ids.bDefault}`);
      near(
        bConv.cost,
        sum((x) => (x.conversation_id === w.ids.bDefault ? x.cost : 0)),
        'a conversation costs its calls',
      );

      const stats = await getJson(h.t, '/api/v1/llm-conversations/stats/summary');
      assert.equal(stats.total_conversations, 4);
      assert.equal(stats.total_calls, 7);
      assert.equal(stats.total_messages, messages);
      assert.equal(
        stats.prompt_tokens,
        sum((x) => x.usage.prompt_tokens),
      );
      assert.equal(
        stats.completion_tokens,
        sum((x) => x.usage.completion_tokens),
      );
      assert.equal(
        stats.total_tokens,
        sum((x) => x.usage.total_tokens),
      );
      assert.equal(
        stats.cached_tokens,
        sum((x) => x.usage.prompt_tokens_details?.cached_tokens ?? 0),
      );
      assert.equal(
        stats.reasoning_tokens,
        sum((x) => x.usage.completion_tokens_details?.reasoning_tokens ?? 0),
      );
      near(stats.total_cost, pricedCost, 'total_cost');
      assert.equal(stats.success_ratio, null, 'nothing decided while every task runs');
      // The Python task executor's fields, by its rules.
      assert.deepEqual(stats.conversations_by_model, { 'scripted:echo': 2, 'fake-chat': 2 });
      near(stats.avg_messages_per_conversation, messages / 4, 'avg_messages_per_conversation');
      assert.equal(stats.total_tokens_consumed, stats.total_tokens);
      assert.deepEqual([stats.successful_conversations, stats.success_rate], [0, 0]);

      const byModel = new Map<string, Body>(stats.by_model.map((m: Body) => [m.model_name, m]));
      assert.equal(byModel.size, 2, JSON.stringify(stats.by_model));
      const echo = byModel.get('scripted:echo');
      const chat = byModel.get('fake-chat');
      assert.ok(echo && chat, JSON.stringify(stats.by_model));
      assert.equal(echo.conversations, 2);
      assert.equal(chat.conversations, 2);
      const convTokens = (model: string) =>
        conversations
          .filter((x: Body) => x.model_name === model)
          .reduce((n: number, x: Body) => n + x.total_tokens, 0);
      assert.equal(echo.total_tokens, convTokens('scripted:echo'));
      assert.equal(chat.total_tokens, convTokens('fake-chat'));
      assert.equal(echo.total_tokens + chat.total_tokens, stats.total_tokens);
      assert.equal(echo.cost, 0);
      near(chat.cost, pricedCost, 'fake-chat cost');

      // Task a completes (its two conversations succeed), task c fails, task b still runs.
      await report(h.t, w.a, 'complete', { result: {}, attempt: w.a.task.attempt });
      await report(h.t, w.c, 'fail', { error: 'boom', attempt: w.c.task.attempt });
      const success = async (id: string) => (await getJson(h.t, `/api/v1/llm-conversations/${id}`)).success;
      assert.deepEqual(
        [
          await success(w.ids.aDefault),
          await success(w.ids.aCritic),
          await success(w.ids.bDefault),
          await success(w.ids.cDefault),
        ],
        [true, true, null, false],
      );
      const listed = await getJson(h.t, '/api/v1/llm-conversations');
      assert.deepEqual(
        listed.conversations.map((x: Body) => x.success),
        [false, null, true, true],
        'the list reports success too',
      );
      const after = await getJson(h.t, '/api/v1/llm-conversations/stats/summary');
      near(after.success_ratio, 2 / 3, 'success_ratio over decided conversations');
      assert.equal(after.successful_conversations, 2);
      near(after.success_rate, 2 / 4, 'success_rate over all conversations (the Python executor’s rule)');
    });
  });
}
