/**
 * Conversations read by the Python task executor's clients (issue 10): its field names beside
 * ours (total_messages, llm_config, total_cost as its breakdown object, message timestamps,
 * /messages total_messages), a UUID session_id per conversation, metadata naming the problem,
 * the worker and its kind cluster, its default page size, and migration 0009 giving rows
 * recorded before it a UUID session id.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { listMigrations, migrate } from '../src/db/migrate.ts';
import { type Body, registerWorker, submitTask } from './helpers/app.ts';
import { createTestDb, dbModes } from './helpers/db.ts';
import {
  type Claimed,
  converse,
  type GatewayHarness,
  getJson,
  report,
  startHarness,
  taskConversations,
  waitForTaskCalls,
} from './helpers/gateway.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CLUSTER = 'kind-aiopslab-worker-321';

for (const mode of dbModes()) {
  describe(`conversations in the Python task executor's shapes (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode, { LLM_PRICES: JSON.stringify({ 'fake-chat': { input: 1, output: 2 } }) });
    });
    afterEach(() => h.close());

    /** A task claimed by a worker that registered its kind cluster, as the predecessor's worker client does. */
    async function claimWithCluster(problemId: string): Promise<Claimed> {
      const workerId = 'worker-321-kind';
      await registerWorker(h.t, workerId, { backend_type: 'default', metadata: { kind_cluster: CLUSTER } });
      await submitTask(h.t, { problem_id: problemId });
      const res = await fetch(`${h.t.url}/api/v1/workers/${workerId}/claim`, { method: 'POST' });
      const task = (await res.json()) as Body;
      assert.ok(task, 'claimed a task');
      return { task, token: task.llm_api_key, baseUrl: task.llm_base_url, workerId };
    }

    it('serves every conversation field the predecessor served, beside ours', async () => {
      const c = await claimWithCluster('p-seed-fields');
      await converse(c, 'fake-chat', 2);
      const [listed] = await waitForTaskCalls(h.t, c.task.id, 2);
      const conv = await getJson(h.t, `/api/v1/llm-conversations/${listed.id}`);

      assert.match(conv.session_id, UUID_RE);
      assert.notEqual(conv.session_id, conv.id, 'a session id of its own');
      assert.equal(conv.conversation_key, 'default', 'the key the agent used is still served');
      assert.equal(listed.session_id, conv.session_id, 'the same session id wherever it is read');
      assert.equal(conv.total_messages, 4);
      assert.equal(conv.total_messages, conv.message_count);
      assert.equal(typeof conv.llm_config, 'object');
      assert.deepEqual(conv.llm_config, conv.model_config);
      assert.equal(conv.llm_config.model, 'fake-chat');
      assert.ok(conv.cost > 0, 'priced');
      assert.deepEqual(conv.total_cost, {
        input_tokens: conv.prompt_tokens,
        output_tokens: conv.completion_tokens,
        total_cost: conv.cost,
      });
      assert.ok(conv.prompt_tokens > 0 && conv.completion_tokens > 0);
      assert.deepEqual(conv.metadata, {
        problem_id: 'p-seed-fields',
        worker_id: c.workerId,
        attempt: 1,
        kind_cluster: CLUSTER,
        cluster_name: CLUSTER,
      });
      assert.equal(conv.messages.length, 4);
      for (const m of conv.messages) {
        assert.equal(m.timestamp, m.created_at, 'a message’s time under the predecessor’s name');
        assert.ok(!Number.isNaN(Date.parse(m.timestamp)));
      }

      // The list item holds the predecessor's summary fields.
      const page = await getJson(h.t, `/api/v1/llm-conversations?task_id=${c.task.id}`);
      const [item] = page.conversations;
      for (const k of [
        'id',
        'task_id',
        'session_id',
        'started_at',
        'model_name',
        'total_messages',
        'total_tokens',
      ])
        assert.equal(item[k], conv[k], k);
      assert.equal(item.ended_at, conv.ended_at);
      assert.equal(item.success, null, 'undecided while the task runs');

      await report(h.t, c, 'complete', { result: {}, attempt: c.task.attempt });
      const done = await getJson(h.t, `/api/v1/llm-conversations/${conv.id}`);
      assert.equal(done.success, true);
      assert.equal(done.metadata.success, true, 'metadata.success, where the predecessor wrote it');
      assert.equal(done.session_id, conv.session_id, 'a session id does not change');
    });

    it('says how many messages /messages carries in total_messages, by role and by page', async () => {
      const c = await claimWithCluster('p-seed-messages');
      await converse(c, 'scripted:echo', 3);
      const [conv] = await waitForTaskCalls(h.t, c.task.id, 3);
      const base = `/api/v1/llm-conversations/${conv.id}/messages`;
      const all = await getJson(h.t, base);
      assert.deepEqual([all.conversation_id, all.total_messages, all.messages.length], [conv.id, 6, 6]);
      const assistant = await getJson(h.t, `${base}?role=assistant`);
      assert.deepEqual([assistant.total_messages, assistant.messages.length], [3, 3]);
      const first = await getJson(h.t, `${base}?limit=2`);
      assert.deepEqual([first.total_messages, first.messages.length], [2, 2]);
      for (const m of all.messages) assert.equal(m.timestamp, m.created_at);
    });

    it('lists 20 conversations a page by default, as the predecessor did', async () => {
      const c = await claimWithCluster('p-seed-paging');
      for (let i = 0; i < 21; i++) await converse(c, 'scripted:echo', 1, { 'x-conversation-id': `k${i}` });
      await waitForTaskCalls(h.t, c.task.id, 21);
      const first = await getJson(h.t, '/api/v1/llm-conversations');
      assert.deepEqual(
        [first.total, first.page, first.page_size, first.conversations.length],
        [21, 1, 20, 20],
      );
      const second = await getJson(h.t, '/api/v1/llm-conversations?page=2');
      assert.equal(second.conversations.length, 1);
      const keys = [...first.conversations, ...second.conversations].map((x: Body) => x.conversation_key);
      assert.equal(new Set(keys).size, 21, 'the two pages tile the list');
      const sessions = (await taskConversations(h.t, c.task.id)).map((x: Body) => x.session_id);
      assert.equal(new Set(sessions).size, 21, 'one session id per conversation');
    });
  });

  describe(`migration 0009: conversation session ids become UUIDs (${mode})`, () => {
    it('gives rows recorded before it a UUID each and keeps their keys', async () => {
      const before = listMigrations().filter((m) => m.version < 9);
      const { db, drop } = await createTestDb(mode, 2, before);
      try {
        const { rows } = await db.query<{ id: string }>(
          `INSERT INTO tasks (problem_id) VALUES ('p-old') RETURNING id`,
        );
        const taskId = rows[0]!.id;
        // As the recorder wrote them then: the session id was the conversation key.
        await db.query(
          `INSERT INTO llm_conversations (task_id, attempt, conversation_key, session_id, model_name)
           VALUES ($1, 1, 'default', 'default', 'm'), ($1, 1, 'planner', 'planner', 'm'),
                  ($1, 2, 'default', 'default', 'm')`,
          [taskId],
        );
        assert.deepEqual(
          (await migrate(db)).filter((n) => n.startsWith('0009')),
          ['0009_conversation_session_uuid.sql'],
        );
        const after = await db.query<{ key: string; attempt: number; session: string }>(
          `SELECT conversation_key AS key, attempt, session_id::text AS session
           FROM llm_conversations ORDER BY attempt, conversation_key`,
        );
        assert.deepEqual(
          after.rows.map((r) => [r.attempt, r.key]),
          [
            [1, 'default'],
            [1, 'planner'],
            [2, 'default'],
          ],
        );
        for (const r of after.rows) assert.match(r.session, UUID_RE);
        assert.equal(new Set(after.rows.map((r) => r.session)).size, 3, 'each row its own UUID');
        const fresh = await db.query<{ session: string }>(
          `INSERT INTO llm_conversations (task_id, attempt, conversation_key) VALUES ($1, 3, 'default')
           RETURNING session_id::text AS session`,
          [taskId],
        );
        assert.match(fresh.rows[0]!.session, UUID_RE, 'new rows get one by default');
      } finally {
        await drop();
      }
    });
  });
}
