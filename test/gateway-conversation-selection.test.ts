/**
 * Which conversation a call lands on (default per attempt, X-Conversation-Id, metadata), what
 * is forwarded of the request, and records settled before a task's completion or failure is
 * written, including calls still in flight.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Body } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import {
  byKey,
  claimTask,
  converse,
  type GatewayHarness,
  getJson,
  recorded,
  report,
  startHarness,
  taskConversations,
  user,
  viaGateway,
  waitForTaskCalls,
} from './helpers/gateway.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

for (const mode of dbModes()) {
  describe(`gateway conversation selection (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

    it('keeps one conversation per attempt by default, and others by header or metadata', async () => {
      const c = await claimTask(h.t, { problem_id: 'p-conv' });
      await converse(c, 'scripted:echo', 2);
      await converse(c, 'scripted:echo', 1, { 'x-conversation-id': 'planner' }, 'plan');
      const critic = await viaGateway(c, {
        model: 'scripted:echo',
        messages: [user('critique')],
        metadata: { conversation_id: 'critic' },
      });
      assert.equal(critic.status, 200, critic.text);
      // The header wins over metadata.
      const both = await viaGateway(
        c,
        {
          model: 'scripted:echo',
          messages: [user('plan 0'), { role: 'assistant', content: 'echo: plan 0' }, user('plan 1')],
          metadata: { conversation_id: 'critic' },
        },
        { 'x-conversation-id': 'planner' },
      );
      assert.equal(both.status, 200, both.text);

      const conversations = await waitForTaskCalls(h.t, c.task.id, 5);
      assert.equal(
        conversations.length,
        3,
        JSON.stringify(conversations.map((x: Body) => x.conversation_key)),
      );
      assert.deepEqual(
        conversations.map((x: Body) => x.conversation_key),
        ['critic', 'planner', 'default'],
        'newest first',
      );
      assert.deepEqual(
        ['default', 'planner', 'critic'].map((k) => byKey(conversations, k).call_count),
        [2, 2, 1],
      );
      assert.equal(new Set(conversations.map((x: Body) => x.id)).size, 3, 'distinct conversations');
      assert.equal(new Set(conversations.map((x: Body) => x.session_id)).size, 3, 'distinct sessions');
      for (const conv of conversations) {
        assert.equal(conv.task_id, c.task.id);
        assert.equal(conv.attempt, 1);
        assert.match(conv.session_id, UUID_RE, 'a session id of its own, a UUID');
        assert.deepEqual(conv.metadata, { problem_id: 'p-conv', worker_id: c.workerId, attempt: 1 });
        assert.equal(conv.success, null, 'undecided while the task runs');
      }
      const planner = await getJson(h.t, `/api/v1/llm-conversations/${byKey(conversations, 'planner').id}`);
      assert.deepEqual(
        planner.messages.map((m: Body) => [m.role, m.content]),
        [
          ['user', 'plan 0'],
          ['assistant', 'echo: plan 0'],
          ['user', 'plan 1'],
          ['assistant', 'echo: plan 1'],
        ],
        'the header-picked call extended the planner conversation',
      );
    });

    it('does not forward metadata.conversation_id upstream, but keeps other metadata and the record', async () => {
      const c = await claimTask(h.t);
      const only = await viaGateway(c, {
        model: 'fake-chat',
        messages: [user('Hi')],
        metadata: { conversation_id: 'critic' },
      });
      assert.equal(only.status, 200, only.text);
      const sentOnly = h.fake.requests.at(-1)!.body;
      assert.equal('metadata' in sentOnly, false, `metadata removed: ${JSON.stringify(sentOnly)}`);
      assert.deepEqual(sentOnly.messages, [user('Hi')]);

      const mixed = await viaGateway(c, {
        model: 'fake-chat',
        messages: [user('Hi')],
        metadata: { conversation_id: 'critic', run: 'r-7' },
      });
      assert.equal(mixed.status, 200, mixed.text);
      assert.deepEqual(h.fake.requests.at(-1)!.body.metadata, { run: 'r-7' });

      const plain = await viaGateway(c, {
        model: 'fake-chat',
        messages: [user('Hi')],
        metadata: { run: 'r-8' },
      });
      assert.equal(plain.status, 200, plain.text);
      assert.deepEqual(h.fake.requests.at(-1)!.body.metadata, { run: 'r-8' }, 'other metadata untouched');

      const conversations = await waitForTaskCalls(h.t, c.task.id, 3);
      assert.deepEqual(
        conversations.map((x: Body) => [x.conversation_key, x.call_count]),
        [
          ['default', 1],
          ['critic', 2],
        ],
        'newest first',
      );
      const { calls } = await getJson(
        h.t,
        `/api/v1/llm-conversations/${byKey(conversations, 'critic').id}/calls`,
      );
      assert.deepEqual(
        calls.map((x: Body) => x.request.metadata),
        [{ conversation_id: 'critic' }, { conversation_id: 'critic', run: 'r-7' }],
        'the record keeps the request as the client sent it',
      );
    });

    it('has every call of a task recorded by the time its completion or failure returns', async () => {
      for (const action of ['complete', 'fail'] as const) {
        const c = await claimTask(h.t, { problem_id: `p-${action}` });
        const n = 12;
        const replies = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            viaGateway(
              c,
              { model: 'scripted:echo', messages: [user(`question ${i}`)] },
              { 'x-conversation-id': `thread-${i}` },
            ),
          ),
        );
        assert.deepEqual(
          replies.map((r) => r.status),
          Array(n).fill(200),
        );
        const body = action === 'complete' ? { result: {} } : { error: 'boom' };
        await report(h.t, c, action, { ...body, attempt: c.task.attempt });
        // Read at once, without waiting: the report waited for the records.
        const conversations = await taskConversations(h.t, c.task.id);
        assert.equal(conversations.length, n, action);
        assert.deepEqual(
          conversations.map((x: Body) => [x.call_count, x.message_count, x.success]),
          Array(n).fill([1, 2, action === 'complete']),
          `${action}: every call recorded, and the outcome`,
        );
      }
    });

    it('completes a task only once a record held up in the database is written', async () => {
      const c = await claimTask(h.t);
      await converse(c, 'scripted:echo', 1);
      const [conv] = await waitForTaskCalls(h.t, c.task.id, 1);
      // Hold the conversation row: the next record of it waits until this transaction ends.
      // (On PGlite's one connection every query queues behind it, so only PostgreSQL can tell
      // a completion that waited from one that did not; on PGlite this is a plain check.)
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = h.t.db.transaction(async (tx) => {
        await tx.query('SELECT id FROM llm_conversations WHERE id = $1 FOR UPDATE', [conv.id]);
        locked();
        await sleep(700);
      });
      await isLocked;
      const second = await viaGateway(c, {
        model: 'scripted:echo',
        messages: [user('turn 0'), { role: 'assistant', content: 'echo: turn 0' }, user('turn 1')],
      });
      assert.equal(second.status, 200, second.text);
      await report(h.t, c, 'complete', { result: {}, attempt: c.task.attempt });
      const after = await getJson(h.t, `/api/v1/llm-conversations/${conv.id}`);
      assert.equal(after.call_count, 2, 'the held-up record was written before the task completed');
      assert.equal(after.message_count, 4);
      assert.equal(after.success, true);
      await holder;
    });

    it('has a call still in flight when its task completes recorded before the completion returns', async () => {
      const c = await claimTask(h.t);
      const slow = viaGateway(c, { model: 'fake-slow-800', messages: [user('Hi')] });
      for (let i = 0; i < 100 && h.fake.requests.length === 0; i++) await sleep(10);
      assert.equal(h.fake.requests.length, 1, 'the slow call reached the upstream');
      await report(h.t, c, 'complete', { result: {}, attempt: c.task.attempt });
      const conversations = await taskConversations(h.t, c.task.id);
      const calls = conversations.reduce((n: number, x: Body) => n + x.call_count, 0);
      assert.equal((await slow).status, 200);
      assert.equal(calls, 1, 'the in-flight call is part of the finished task’s record');
    });

    it('names a conversation after its first call’s model and keeps tools out of its config', async () => {
      const c = await claimTask(h.t);
      const tool = { type: 'function', function: { name: 'noop', parameters: { type: 'object' } } };
      const first = await viaGateway(c, {
        model: 'scripted:echo',
        temperature: 0.5,
        tools: [tool],
        messages: [user('one')],
      });
      assert.equal(first.status, 200, first.text);
      const second = await viaGateway(c, {
        model: 'fake-chat',
        messages: [user('one'), { role: 'assistant', content: 'echo: one' }, user('two')],
      });
      assert.equal(second.status, 200, second.text);

      await waitForTaskCalls(h.t, c.task.id, 2);
      const { conversations, calls } = await recorded(h.t, c.task.id);
      assert.equal(conversations.length, 1);
      const conv = conversations[0];
      assert.equal(conv.model_name, 'scripted:echo');
      assert.equal(conv.model_config.model, 'scripted:echo');
      assert.equal(conv.model_config.temperature, 0.5);
      assert.equal('tools' in conv.model_config, false, 'tools are not model config');
      assert.equal('messages' in conv.model_config, false, 'messages are not model config');
      assert.deepEqual(
        calls.map((x: Body) => [x.seq, x.model_requested, x.upstream, x.prefix_consistent]),
        [
          [1, 'scripted:echo', 'scripted', true],
          [2, 'fake-chat', 'openai', true],
        ],
      );
      assert.equal(conv.message_count, 4);
    });

    it('records the cost: zero for scripted models, null (unknown) for an unpriced one', async () => {
      const c = await claimTask(h.t);
      await converse(c, 'scripted:echo', 1);
      await converse(c, 'fake-chat', 1, { 'x-conversation-id': 'unpriced' });
      const conversations = await waitForTaskCalls(h.t, c.task.id, 2);
      const scripted = byKey(conversations, 'default');
      const unpriced = byKey(conversations, 'unpriced');
      assert.equal(scripted.cost, 0);
      assert.equal(unpriced.cost, null);
      const { calls } = await getJson(h.t, `/api/v1/llm-conversations/${unpriced.id}/calls`);
      assert.equal(calls[0].cost, null);
      assert.ok(calls[0].prompt_tokens > 0, 'the unpriced call still has its tokens');
    });
  });
}
