/**
 * LLM calls in flight across API replicas and crashes (gateway/in-flight.ts, flight-keeper.ts):
 * a report on one replica waits for, then cuts, the attempt's call relayed by another; a call
 * whose process died is recorded as interrupted, once, prompt included.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from '../src/api/app.ts';
import type { Db } from '../src/db/types.ts';
import { FlightKeeper, keeperTiming } from '../src/gateway/flight-keeper.ts';
import { CONVERSATION_ID_HEADER } from '../src/gateway/gateway.ts';
import { createInFlightStore, type InFlightStore } from '../src/gateway/in-flight.ts';
import { toRequestMessages } from '../src/gateway/messages.ts';
import { RecordQueue } from '../src/gateway/record-queue.ts';
import { createRecorder } from '../src/gateway/recorder.ts';
import { createQueue } from '../src/queue/index.ts';
import { FAKE_CHAT_CONTENT } from './fixtures/fake-llm.ts';
import { dbModes } from './helpers/db.ts';
import {
  assertOpenAiError,
  type Claimed,
  claimTask,
  type GatewayHarness,
  recorded,
  startHarness,
  user,
  viaGateway,
  waitForCalls,
} from './helpers/gateway.ts';
import { waitFor } from './helpers/process.ts';

const quiet = { info() {}, warn() {}, error() {} };

async function inFlightRows(db: Db): Promise<{ id: string; cut_requested: boolean }[]> {
  const { rows } = await db.query<{ id: string; cut_requested: boolean }>(
    'SELECT id, cut_requested FROM llm_calls_in_flight',
  );
  return rows;
}

/** Stores a call of the claimed task as relayed by a process that died an hour ago. */
async function orphan(store: InFlightStore, db: Db, c: Claimed, conversationId: string): Promise<string> {
  const id = randomUUID();
  await store.add({
    id,
    conversationId,
    taskId: c.task.id,
    attempt: c.task.attempt,
    upstream: 'openai',
    modelRequested: 'fake-chat',
    stream: false,
    request: { model: 'fake-chat', temperature: 0 },
    injected: [],
    prompt: toRequestMessages([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'hi' },
      { role: 'user', content: 'and now \u0000 a NUL' },
    ]),
    startedAt: new Date(Date.now() - 3_600_000),
  });
  await db.query(`UPDATE llm_calls_in_flight SET seen_at = now() - interval '1 hour' WHERE id = $1`, [id]);
  return id;
}

for (const mode of dbModes()) {
  describe(`in-flight LLM calls (${mode})`, () => {
    let h: GatewayHarness;
    before(async () => {
      h = await startHarness(mode, {
        LLM_INFLIGHT_GRACE_SECONDS: '1',
        LLM_TIMEOUT_SECONDS: '60',
        LLM_STREAM_IDLE_TIMEOUT_SECONDS: '60',
      });
    });
    after(() => h.close());

    test('a call is in flight while it runs, and its record removes it', async () => {
      const c = await claimTask(h.t);
      const pending = viaGateway(c, { model: 'fake-slow-800', messages: [{ role: 'user', content: 'hi' }] });
      const rows = await waitFor(async () => {
        const r = await inFlightRows(h.t.db);
        return r.length === 1 && r;
      }, 'the in-flight row');
      assert.equal(rows[0]!.cut_requested, false);
      assert.equal((await pending).status, 200);
      await waitForCalls(h.t, c.task.id, 1);
      assert.deepEqual(await inFlightRows(h.t.db), []);
    });

    test('a call whose in-flight row cannot be written is refused, and nothing of its answer relayed', async () => {
      const c = await claimTask(h.t);
      const db = h.t.db;
      const query = db.query;
      // The row goes out beside the upstream request; the database "goes away" for it alone.
      db.query = ((sql: string, params?: readonly unknown[], opts?: Parameters<Db['query']>[2]) =>
        /INSERT INTO llm_calls_in_flight/.test(sql)
          ? Promise.reject(Object.assign(new Error('terminating connection'), { code: '57P01' }))
          : query.call(db, sql, params, opts)) as Db['query'];
      let r: Awaited<ReturnType<typeof viaGateway>>;
      try {
        r = await viaGateway(c, { model: 'fake-chat', messages: [user('hi')] });
        const streamed = await viaGateway(c, { model: 'fake-chat', stream: true, messages: [user('hi')] });
        assertOpenAiError(streamed, 503, 'database_unavailable');
        assert.ok(!streamed.text.includes(FAKE_CHAT_CONTENT));
      } finally {
        db.query = query;
      }
      assertOpenAiError(r, 503, 'database_unavailable');
      assert.ok(!r.text.includes(FAKE_CHAT_CONTENT), r.text);
      assert.equal(r.headers.get(CONVERSATION_ID_HEADER), null);
      assert.deepEqual(await inFlightRows(db), []);
      assert.equal((await recorded(h.t, c.task.id)).calls.length, 0);
      // The database back: the same task's next call goes through and is recorded.
      assert.equal((await viaGateway(c, { model: 'fake-chat', messages: [user('hi')] })).status, 200);
      await waitForCalls(h.t, c.task.id, 1);
    });

    test("a report on another replica cuts this replica's call, and lands after its record", async () => {
      // Replica B: its own queue and app over the same database (shared token key and tables).
      const queueB = createQueue(h.t.db, { leaseSeconds: h.t.config.LEASE_SECONDS, notifyDebounceMs: 5 });
      await queueB.start();
      const appB = await createApp({ config: h.t.config, queue: queueB, logger: false });
      const urlB = await appB.listen({ host: '127.0.0.1', port: 0 });
      try {
        const c = await claimTask(h.t);
        // A stream that never ends, relayed by replica A.
        const pending = viaGateway(c, {
          model: 'fake-stall',
          stream: true,
          messages: [{ role: 'user', content: 'think forever' }],
        });
        await waitFor(async () => (await inFlightRows(h.t.db)).length === 1, 'the stalled call in flight');
        const res = await fetch(`${urlB}/api/v1/workers/${c.workerId}/tasks/${c.task.id}/complete`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ attempt: c.task.attempt, result: { ok: true } }),
        });
        assert.equal(res.status, 200, await res.text());
        // By the time the completion is stored, the cut call is recorded and out of flight.
        const { calls } = await recorded(h.t, c.task.id);
        assert.equal(calls.length, 1);
        assert.equal(calls[0].end_reason, 'attempt_ended');
        assert.deepEqual(await inFlightRows(h.t.db), []);
        await pending;
      } finally {
        await appB.close();
        await queueB.stop();
      }
    });

    test('an orphaned call is recorded as interrupted, prompt included, once', async () => {
      const c = await claimTask(h.t);
      const first = await viaGateway(c, {
        model: 'fake-chat',
        messages: [{ role: 'user', content: 'hello' }],
      });
      assert.equal(first.status, 200);
      const [call] = await waitForCalls(h.t, c.task.id, 1);
      const recorder = createRecorder(h.t.db);
      // Two replicas that both find the orphan: it is recorded by one of them.
      const keepers = [0, 1].map(() => {
        const store = createInFlightStore(h.t.db, randomUUID());
        return {
          store,
          keeper: new FlightKeeper(store, new RecordQueue(recorder, quiet), quiet, keeperTiming(5)),
        };
      });
      const id = await orphan(keepers[0]!.store, h.t.db, c, call.conversation_id);
      const found = await keepers[0]!.store.orphans(5, 100);
      assert.deepEqual(
        found.map((o) => o.id),
        [id],
      );
      const counts = await Promise.all(keepers.map((k) => k.keeper.recover(found)));
      assert.equal(counts[0]! + counts[1]!, 1);
      const calls = await waitForCalls(h.t, c.task.id, 2);
      assert.equal(calls.length, 2);
      const interrupted = calls[1];
      assert.equal(interrupted.end_reason, 'interrupted');
      assert.equal(interrupted.status, null);
      assert.equal(interrupted.response, null);
      assert.deepEqual(await inFlightRows(h.t.db), []);
      // Its prompt is stored like any call's: three messages, the NUL kept as sent.
      assert.equal(interrupted.prompt_message_count, 3);
      const page = (await (
        await fetch(`${h.t.url}/api/v1/llm-conversations/${call.conversation_id}/messages?page_size=100`)
      ).json()) as { messages: { content: string }[] };
      assert.ok(page.messages.some((m) => m.content === 'and now \u0000 a NUL'));
    });

    test('a call extending the conversation stores only its new messages, and is rebuilt whole', async () => {
      const c = await claimTask(h.t);
      const hello = { role: 'user', content: 'hello' };
      assert.equal((await viaGateway(c, { model: 'fake-chat', messages: [hello] })).status, 200);
      await waitForCalls(h.t, c.task.id, 1);
      const prompt = [
        hello,
        { role: 'assistant', content: FAKE_CHAT_CONTENT },
        { role: 'user', content: 'next' },
      ];
      const pending = viaGateway(c, { model: 'fake-stall', stream: true, messages: prompt });
      await waitFor(async () => (await inFlightRows(h.t.db)).length === 1, 'the second call in flight');
      const { rows } = await h.t.db.query<{ base_depth: number; n: number }>(
        'SELECT base_depth, jsonb_array_length(prompt) AS n FROM llm_calls_in_flight',
      );
      assert.deepEqual(rows, [{ base_depth: 2, n: 1 }]);
      // As another replica would read it once its owner is gone: the whole prompt.
      await h.t.db.query(`UPDATE llm_calls_in_flight SET seen_at = now() - interval '1 hour'`);
      const [o] = await createInFlightStore(h.t.db, randomUUID()).orphans(5, 10);
      assert.deepEqual(
        o!.prompt.map((m) => [m.role, m.content]),
        prompt.map((m) => [m.role, m.content]),
      );
      // The owner is alive: it renews the row and records the call when it is cut.
      const done = await fetch(`${h.t.url}/api/v1/workers/${c.workerId}/tasks/${c.task.id}/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ attempt: c.task.attempt, result: {} }),
      });
      assert.equal(done.status, 200);
      await pending;
      const calls = await waitForCalls(h.t, c.task.id, 2);
      assert.equal(calls[1].end_reason, 'attempt_ended');
      assert.deepEqual(await inFlightRows(h.t.db), []);
    });

    test('a keeper records orphans only after reaching the database for a stale period', async () => {
      const c = await claimTask(h.t);
      await viaGateway(c, { model: 'fake-chat', messages: [{ role: 'user', content: 'hello' }] });
      const [call] = await waitForCalls(h.t, c.task.id, 1);
      const store = createInFlightStore(h.t.db, randomUUID());
      await orphan(store, h.t.db, c, call.conversation_id);
      const keeper = new FlightKeeper(store, new RecordQueue(createRecorder(h.t.db), quiet), quiet, {
        cutPollMs: 50,
        touchMs: 50,
        staleSeconds: 1,
      });
      await keeper.tick();
      assert.equal((await inFlightRows(h.t.db)).length, 1, 'not on its first look');
      await sleep(1100);
      await keeper.tick();
      await waitFor(async () => (await inFlightRows(h.t.db)).length === 0, 'the orphan recorded', 10_000);
      const calls = await waitForCalls(h.t, c.task.id, 2);
      assert.equal(calls[1].end_reason, 'interrupted');
    });
  });
}
