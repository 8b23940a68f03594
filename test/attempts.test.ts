/**
 * The attempts service over real HTTP with a fake upstream model: a stale report is refused at
 * once and leaves the live attempt's LLM calls alone; the holder's report waits for its own
 * attempt's calls to be recorded; an odd upstream reply still settles and is recorded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FakeLlm, startFakeLlm } from './fixtures/fake-llm.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { type J, json, post } from './helpers/episodes.ts';
import { waitFor } from './helpers/process.ts';
import { addWorker, submitOne } from './helpers/queue-fixtures.ts';

for (const mode of dbModes()) {
  describe(`attempts: claim, settle and report (${mode})`, () => {
    let fake: FakeLlm;
    let t: TestApp;

    before(async () => {
      fake = await startFakeLlm();
      t = await createTestApp(mode, {
        listen: true,
        env: { LLM_UPSTREAMS: JSON.stringify({ fake: { base_url: fake.url, models: ['fake-*'] } }) },
      });
    });
    after(async () => {
      await t?.close();
      await fake?.close();
    });

    const claim = async (worker: string): Promise<J> =>
      json(await post(t.url, `/api/v1/workers/${worker}/claim`, {}));

    function llmCall(task: J, model: string): Promise<Response> {
      return fetch(`${task.llm_base_url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${task.llm_api_key}` },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
    }

    async function calls(taskId: string): Promise<J[]> {
      const list = (await json(
        await fetch(`${t.url}/api/v1/llm-conversations/task/${taskId}/conversations`),
      )) as J[];
      const out: J[] = [];
      for (const c of list) {
        const page = await json(await fetch(`${t.url}/api/v1/llm-conversations/${c.id}/calls?limit=1000`));
        out.push(...page.calls);
      }
      return out;
    }

    it("a stale report is refused at once and does not cut the live attempt's call", async () => {
      await addWorker(t.queue, 'worker-101-kind', { backend_type: 'bench-a' });
      await addWorker(t.queue, 'worker-102-kind', { backend_type: 'bench-a' });
      const task = await submitOne(t.queue, {
        problem_id: 'attempts-stale',
        backend_type: 'bench-a',
        max_attempts: 2,
      });
      const first = await claim('worker-101-kind');
      assert.equal(first.id, task.id);
      // Attempt 1 gives up (retry), attempt 2 goes to the other worker and calls a slow model.
      await json(
        await post(t.url, `/api/v1/workers/worker-101-kind/tasks/${task.id}/fail`, {
          attempt: 1,
          retry: true,
        }),
      );
      const second = await claim('worker-102-kind');
      assert.equal(second.attempt, 2);
      const slow = llmCall(second, 'fake-slow-1500');
      await waitFor(
        async () => fake.requests.some((r) => r.body?.model === 'fake-slow-1500'),
        'the call upstream',
      );
      let callDone = false;
      void slow.finally(() => {
        callDone = true;
      });
      const stale = await post(t.url, `/api/v1/workers/worker-101-kind/tasks/${task.id}/complete`, {
        attempt: 1,
        result: { stale: true },
      });
      assert.equal(stale.status, 409);
      assert.equal(((await stale.json()) as J).code, 'TASK_NOT_HELD');
      assert.equal(callDone, false, 'the refusal did not wait for the live call');
      const answer = await slow;
      assert.equal(answer.status, 200, 'the live call was not cut');
      await json(
        await post(t.url, `/api/v1/workers/worker-102-kind/tasks/${task.id}/complete`, {
          attempt: 2,
          result: { ok: 1 },
        }),
      );
      const recorded = await calls(task.id);
      assert.deepEqual(
        recorded.map((c) => c.end_reason),
        ['done'],
      );
    });

    it("the holder's report waits until its attempt's call in flight is recorded", async () => {
      await addWorker(t.queue, 'worker-103-kind', { backend_type: 'bench-b' });
      const task = await submitOne(t.queue, { problem_id: 'attempts-settle', backend_type: 'bench-b' });
      const claimed = await claim('worker-103-kind');
      const slow = llmCall(claimed, 'fake-slow-800');
      await waitFor(
        async () => fake.requests.some((r) => r.body?.model === 'fake-slow-800'),
        'the call upstream',
      );
      // No attempt in the body, as the predecessor's clients send it: the fence resolves it.
      const done = await json(
        await post(t.url, `/api/v1/workers/worker-103-kind/tasks/${task.id}/complete`, { result: { ok: 1 } }),
      );
      assert.equal(done.status, 'completed');
      assert.equal((await slow).status, 200);
      const recorded = await calls(task.id);
      assert.equal(recorded.length, 1, 'recorded before the task was seen completed');
      assert.equal(recorded[0]!.end_reason, 'done');
    });

    it('an upstream reply with "role": null is relayed, recorded, and lets the attempt end', async () => {
      await addWorker(t.queue, 'worker-104-kind', { backend_type: 'bench-c' });
      const task = await submitOne(t.queue, { problem_id: 'attempts-null-role', backend_type: 'bench-c' });
      const claimed = await claim('worker-104-kind');
      const res = await llmCall(claimed, 'fake-null-role');
      assert.equal(res.status, 200);
      await json(
        await post(t.url, `/api/v1/workers/worker-104-kind/tasks/${task.id}/complete`, {
          attempt: 1,
          result: {},
        }),
      );
      const recorded = await calls(task.id);
      assert.equal(recorded.length, 1);
      assert.equal(recorded[0]!.status, 200);
    });

    it('a NUL or lone surrogate in a message is recorded and read back as sent, and later calls keep recording', async () => {
      await addWorker(t.queue, 'worker-105-kind', { backend_type: 'bench-d' });
      const task = await submitOne(t.queue, { problem_id: 'attempts-nul', backend_type: 'bench-d' });
      const claimed = await claim('worker-105-kind');
      const odd = 'tool output \u0000\u0001 binary \uD800 end';
      const send = (messages: unknown[]) =>
        fetch(`${claimed.llm_base_url}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${claimed.llm_api_key}` },
          body: JSON.stringify({ model: 'fake-chat', messages }),
        });
      const first = [{ role: 'user', content: odd }];
      const a = (await json(await send(first))) as J;
      const second = [...first, a.choices[0].message, { role: 'user', content: 'and then?' }];
      assert.equal((await send(second)).status, 200);
      await json(
        await post(t.url, `/api/v1/workers/worker-105-kind/tasks/${task.id}/complete`, {
          attempt: 1,
          result: {},
        }),
      );
      const recorded = await calls(task.id);
      assert.equal(recorded.length, 2, 'both calls recorded');
      assert.equal(recorded[1]!.prefix_consistent, true);
      const list = await json(await fetch(`${t.url}/api/v1/llm-conversations/task/${task.id}/conversations`));
      const messages = await json(await fetch(`${t.url}/api/v1/llm-conversations/${list[0].id}/messages`));
      assert.equal(messages.messages[0].content, odd);
      assert.equal(recorded[0]!.request.model, 'fake-chat');
    });

    it('a claim retried with the same claim_id gets the same task back, not another one', async () => {
      await addWorker(t.queue, 'worker-106-kind', { backend_type: 'bench-e', max_parallel: 2 });
      const a = await submitOne(t.queue, { problem_id: 'attempts-claim-a', backend_type: 'bench-e' });
      const b = await submitOne(t.queue, { problem_id: 'attempts-claim-b', backend_type: 'bench-e' });
      const claimWith = async (id: string) =>
        json(await post(t.url, `/api/v1/workers/worker-106-kind/claim?claim_id=${id}`, {}));
      const first = await claimWith('c-1');
      const retried = await claimWith('c-1');
      assert.equal(first.id, a.id);
      assert.equal(retried.id, a.id, 'the retry returns the task the lost response carried');
      assert.equal(retried.attempt, 1, 'and does not claim it again');
      assert.ok(retried.llm_api_key);
      const next = await claimWith('c-2');
      assert.equal(next.id, b.id);
      const bad = await post(t.url, '/api/v1/workers/worker-106-kind/claim?claim_id=has%20space', {});
      assert.equal(bad.status, 422);
    });
  });
}
