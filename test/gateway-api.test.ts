/**
 * The gateway as its clients see it, over real HTTP: task-token auth (missing, garbage, forged,
 * finished and superseded attempts), routing and body errors, conversation selection, records
 * settled before a task finishes, the five conversation read endpoints on real recorded data,
 * the stock OpenAI SDK, and upstream keys kept out of every log line and response.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import pino from 'pino';
import { createApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { createQueue } from '../src/queue/index.ts';
import { FAKE_CHAT_CONTENT, FAKE_TOOL_CALLS, FAKE_TOOLS_CONTENT, startFakeLlm } from './fixtures/fake-llm.ts';
import { type Body, registerWorker, type TestApp } from './helpers/app.ts';
import { createTestDb, type DbMode, dbModes } from './helpers/db.ts';
import {
  type Claimed,
  claimTask,
  type GatewayHarness,
  getJson,
  post,
  type RawReply,
  type Rows,
  recorded,
  startHarness,
  viaGateway,
  waitForCalls,
} from './helpers/gateway.ts';

const user = (content: string) => ({ role: 'user', content });

/** Asserts an OpenAI-style error: `{ error: { message, type, param, code } }` with this status and code. */
function assertOpenAiError(r: RawReply, status: number, code: string, message?: RegExp): Body {
  assert.equal(r.status, status, r.text);
  const body = JSON.parse(r.text) as Body;
  assert.equal(typeof body.error, 'object', `an OpenAI error object: ${r.text}`);
  assert.equal(typeof body.error.message, 'string', r.text);
  assert.equal(typeof body.error.type, 'string', r.text);
  assert.equal(body.error.code, code, r.text);
  if (message) assert.match(body.error.message, message);
  return body.error;
}

/** A chat call with an arbitrary Authorization header (or none). */
function chatAs(c: Claimed, authorization: string | null, body: unknown): Promise<RawReply> {
  return post(`${c.baseUrl}/chat/completions`, body, authorization === null ? {} : { authorization });
}

async function getStatus(url: string, headers: Record<string, string> = {}): Promise<RawReply> {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** A worker report (complete, fail, release) over HTTP; returns the reply, asserting 200. */
async function report(t: TestApp, c: Claimed, action: string, body: Record<string, unknown>): Promise<Body> {
  const r = await post(`${t.url}/api/v1/workers/${c.workerId}/tasks/${c.task.id}/${action}`, body);
  assert.equal(r.status, 200, `${action}: ${r.text}`);
  return JSON.parse(r.text) as Body;
}

/** Registers `workerId` and claims over HTTP; the claim must return a task. */
async function claimAs(t: TestApp, workerId: string): Promise<Claimed> {
  await registerWorker(t, workerId);
  const res = await fetch(`${t.url}/api/v1/workers/${workerId}/claim`, { method: 'POST' });
  assert.equal(res.status, 200);
  const task = (await res.json()) as Body | null;
  assert.ok(task, `${workerId} claimed nothing`);
  return { task, token: task.llm_api_key, baseUrl: task.llm_base_url, workerId };
}

/**
 * Plays `turns` turns of a conversation with `model` (non-streamed), each prompt extending the
 * previous one with the reply, as an agent does. Returns the replies' contents.
 */
async function converse(
  c: Claimed,
  model: string,
  turns: number,
  headers: Record<string, string> = {},
  label = 'turn',
): Promise<string[]> {
  const messages: { role: string; content: string }[] = [];
  const replies: string[] = [];
  for (let i = 0; i < turns; i++) {
    messages.push(user(`${label} ${i}`));
    const r = await viaGateway(c, { model, messages }, headers);
    assert.equal(r.status, 200, r.text);
    const content = JSON.parse(r.text).choices[0].message.content as string;
    replies.push(content);
    messages.push({ role: 'assistant', content });
  }
  return replies;
}

/**
 * Recording follows the answer: waits (bounded) until the task's conversations hold `n` calls
 * in all, and returns them.
 */
async function waitForTaskCalls(t: TestApp, taskId: string, n: number): Promise<Rows> {
  let total = 0;
  for (let i = 0; i < 100; i++) {
    const { conversations } = await getJson(t, `/api/v1/llm-conversations/task/${taskId}/conversations`);
    total = conversations.reduce((sum: number, x: Body) => sum + x.call_count, 0);
    if (total >= n) return conversations;
    await sleep(50);
  }
  throw new Error(`expected ${n} recorded calls for task ${taskId}, found ${total}`);
}

const byKey = (conversations: Rows, key: string) => {
  const found = conversations.find((x) => x.conversation_key === key);
  assert.ok(found, `no conversation with key ${key} among ${conversations.map((x) => x.conversation_key)}`);
  return found;
};

const near = (actual: number, expected: number, what: string) => {
  assert.equal(typeof actual, 'number', `${what} is a number`);
  assert.ok(
    Math.abs(actual - expected) <= 1e-12 + Math.abs(expected) * 1e-9,
    `${what}: ${actual} is not ${expected}`,
  );
};

for (const mode of dbModes()) {
  describe(`gateway task-token auth (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

    const hello = { model: 'fake-chat', messages: [user('Hi')] };

    it('refuses a call without a token, with a garbage token or a forged one, before any upstream', async () => {
      const c = await claimTask(h.t);
      const other = await claimTask(h.t, { problem_id: 'p-2' });

      const none = assertOpenAiError(await chatAs(c, null, hello), 401, 'invalid_api_key');
      assert.equal(none.type, 'invalid_request_error');
      assertOpenAiError(await chatAs(c, 'Bearer garbage', hello), 401, 'invalid_api_key');
      assertOpenAiError(await chatAs(c, `Basic ${c.token}`, hello), 401, 'invalid_api_key');
      assertOpenAiError(await chatAs(c, 'Bearer ', hello), 401, 'invalid_api_key');

      // The other task's id under this token's signature: a running task, but not what was signed.
      const parts = c.token.split('.');
      assert.equal(parts.length, 4, c.token);
      assert.equal(parts[1], c.task.id, 'the token names its task');
      const forgedTask = [parts[0], other.task.id, parts[2], parts[3]].join('.');
      assertOpenAiError(
        await chatAs(c, `Bearer ${forgedTask}`, hello),
        401,
        'invalid_api_key',
        /Invalid task token/,
      );
      const forgedAttempt = [parts[0], parts[1], '2', parts[3]].join('.');
      assertOpenAiError(await chatAs(c, `Bearer ${forgedAttempt}`, hello), 401, 'invalid_api_key');
      const badSignature = `${c.token.slice(0, -2)}${c.token.endsWith('AA') ? 'BB' : 'AA'}`;
      assertOpenAiError(await chatAs(c, `Bearer ${badSignature}`, hello), 401, 'invalid_api_key');

      assert.equal(h.fake.requests.length, 0, 'no refused call reached the upstream');
      assert.equal((await recorded(h.t, c.task.id)).conversations.length, 0, 'nothing recorded');
      assert.equal((await recorded(h.t, other.task.id)).conversations.length, 0, 'nothing recorded');

      // The genuine tokens work, so the refusals above were about the tokens.
      assert.equal((await chatAs(c, `Bearer ${c.token}`, hello)).status, 200);
      assert.equal((await chatAs(other, `bearer   ${other.token}`, hello)).status, 200);
      assert.equal(h.fake.requests.length, 2);
    });

    it('refuses a well-signed token whose task does not exist', async () => {
      const c = await claimTask(h.t);
      const ghost = (await h.t.app.gateway.tokens()).mint(randomUUID(), 1);
      assertOpenAiError(await chatAs(c, `Bearer ${ghost}`, hello), 401, 'invalid_api_key', /does not exist/);
      assert.equal(h.fake.requests.length, 0);
    });

    it('refuses the token once its worker completed the task', async () => {
      const c = await claimTask(h.t);
      assert.equal((await viaGateway(c, hello)).status, 200);
      assert.equal(h.fake.requests.length, 1);
      const done = await report(h.t, c, 'complete', { result: {}, attempt: c.task.attempt });
      assert.equal(done.status, 'completed');

      assertOpenAiError(await viaGateway(c, hello), 401, 'invalid_api_key', /not running/);
      assertOpenAiError(
        await getStatus(`${c.baseUrl}/models`, { authorization: `Bearer ${c.token}` }),
        401,
        'invalid_api_key',
        /not running/,
      );
      assert.equal(h.fake.requests.length, 1, 'the upstream was not contacted after completion');
      // No waiting: completion waits for the task's calls to be recorded.
      const { calls } = await recorded(h.t, c.task.id);
      assert.equal(calls.length, 1, 'the refused call was not recorded');
    });

    it('refuses attempt 1’s token once the task was released and claimed again; attempt 2’s works', async () => {
      const c = await claimTask(h.t);
      assert.equal(c.task.attempt, 1);
      assert.equal((await viaGateway(c, hello)).status, 200);
      const released = await report(h.t, c, 'release', { attempt: 1 });
      assert.equal(released.status, 'pending');

      // Pending: no running attempt, so the old token is refused even before the re-claim.
      assertOpenAiError(await viaGateway(c, hello), 401, 'invalid_api_key', /not running/);

      const again = await claimAs(h.t, 'worker-950-kind');
      assert.equal(again.task.id, c.task.id, 'the released task is claimed again');
      assert.equal(again.task.attempt, 2);
      assert.notEqual(again.token, c.token);

      const before = h.fake.requests.length;
      assertOpenAiError(await viaGateway(c, hello), 401, 'invalid_api_key', /attempt has ended/);
      assert.equal(h.fake.requests.length, before, 'the stale token reached no upstream');

      const ok = await viaGateway(again, hello);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(h.fake.requests.length, before + 1);

      const conversations = await waitForTaskCalls(h.t, c.task.id, 2);
      assert.deepEqual(
        conversations.map((x: Body) => [x.attempt, x.conversation_key, x.call_count, x.metadata.worker_id]),
        [
          [1, 'default', 1, c.workerId],
          [2, 'default', 1, 'worker-950-kind'],
        ],
        'one conversation per attempt',
      );
      assert.equal(conversations[0].success, null, 'a superseded attempt is undecided');
    });

    it('lists models for a valid token only', async () => {
      const c = await claimTask(h.t);
      const ok = await getStatus(`${c.baseUrl}/models`, { authorization: `Bearer ${c.token}` });
      assert.equal(ok.status, 200, ok.text);
      const list = JSON.parse(ok.text) as Body;
      assert.equal(list.object, 'list');
      const ids = (list.data as Body[]).map((m) => m.id);
      for (const id of ['scripted:echo', 'scripted:tools', 'scripted:aiopslab', 'vllm-chat', 'vllm-tools'])
        assert.ok(ids.includes(id), `${id} is listed: ${ids}`);
      assert.equal(new Set(ids).size, ids.length, 'no model listed twice');
      for (const m of list.data as Body[]) assert.equal(m.object, 'model');
      assert.equal((list.data as Body[]).find((m) => m.id === 'vllm-chat')?.owned_by, 'vllm');

      assertOpenAiError(await getStatus(`${c.baseUrl}/models`), 401, 'invalid_api_key');
      assertOpenAiError(
        await getStatus(`${c.baseUrl}/models`, { authorization: 'Bearer te1.nope' }),
        401,
        'invalid_api_key',
      );
    });
  });

  describe(`gateway routing and request errors (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

    it('refuses a provider/model name without an OpenRouter key, naming the variable', async () => {
      const c = await claimTask(h.t);
      const r = await viaGateway(c, { model: 'anthropic/claude-3.5-sonnet', messages: [user('Hi')] });
      const e = assertOpenAiError(r, 400, 'model_not_configured', /OPENROUTER_API_KEY/);
      assert.equal(e.param, 'model');
      assert.match(e.message, /anthropic\/claude-3\.5-sonnet/);
      assert.equal(h.fake.requests.length, 0, 'nothing forwarded');
      assert.equal((await recorded(h.t, c.task.id)).conversations.length, 0, 'nothing recorded');
    });

    it('refuses a bare model name when OPENAI_API_KEY is empty, naming the variable', async () => {
      const bare = await startHarness(mode, { OPENAI_API_KEY: '' });
      try {
        assert.equal(bare.t.config.OPENAI_API_KEY, '', 'an empty value is "unset"');
        const c = await claimTask(bare.t);
        const r = await viaGateway(c, { model: 'gpt-4o', messages: [user('Hi')] });
        const e = assertOpenAiError(r, 400, 'model_not_configured', /OPENAI_API_KEY/);
        assert.match(e.message, /gpt-4o/);
        assert.equal(bare.fake.requests.length, 0, 'nothing forwarded');
        // Scripted models and the named vLLM upstream still work without the OpenAI key.
        assert.equal((await viaGateway(c, { model: 'scripted:echo', messages: [user('Hi')] })).status, 200);
        assert.equal((await viaGateway(c, { model: 'vllm-chat', messages: [user('Hi')] })).status, 200);
        assert.equal(bare.fake.requests.length, 1);
      } finally {
        await bare.close();
      }
    });

    it('refuses malformed bodies with 400 invalid_request_error, before any upstream', async () => {
      const c = await claimTask(h.t);
      const cases: [string, unknown, string | null][] = [
        ['missing model', { messages: [user('Hi')] }, 'model'],
        ['empty model', { model: '', messages: [user('Hi')] }, 'model'],
        ['non-string model', { model: 42, messages: [user('Hi')] }, 'model'],
        ['missing messages', { model: 'fake-chat' }, 'messages'],
        ['empty messages', { model: 'fake-chat', messages: [] }, 'messages'],
        ['messages not an array', { model: 'fake-chat', messages: 'Hi' }, 'messages'],
        ['message without role', { model: 'fake-chat', messages: [{ content: 'Hi' }] }, 'messages'],
        ['message not an object', { model: 'fake-chat', messages: ['Hi'] }, 'messages'],
        ['stream not boolean', { model: 'fake-chat', stream: 'yes', messages: [user('Hi')] }, 'stream'],
        ['body an array', [{ model: 'fake-chat' }], null],
      ];
      for (const [what, body, param] of cases) {
        const e = assertOpenAiError(await viaGateway(c, body), 400, 'invalid_request', undefined);
        assert.equal(e.type, 'invalid_request_error', what);
        assert.equal(e.param, param, what);
      }
      const longKey = await viaGateway(
        c,
        { model: 'fake-chat', messages: [user('Hi')] },
        { 'x-conversation-id': 'k'.repeat(201) },
      );
      assertOpenAiError(longKey, 400, 'invalid_request', /conversation id/);
      assert.equal(h.fake.requests.length, 0, 'no malformed call was forwarded');
      assert.equal((await recorded(h.t, c.task.id)).conversations.length, 0, 'nothing recorded');
    });

    it('answers a body the JSON parser refuses, and an unknown /llm/v1 route, in OpenAI’s error shape', async () => {
      const c = await claimTask(h.t);
      const malformed = await fetch(`${c.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` },
        body: '{"model": "fake-chat", "messages": [',
      });
      const text = await malformed.text();
      assertOpenAiError(
        { status: malformed.status, text, headers: malformed.headers },
        400,
        'invalid_request',
      );
      const unknown = await post(
        `${c.baseUrl}/embeddings`,
        { model: 'x', input: 'y' },
        {
          authorization: `Bearer ${c.token}`,
        },
      );
      assert.equal(unknown.status, 404, unknown.text);
      assert.equal(typeof JSON.parse(unknown.text).error?.message, 'string', unknown.text);
    });

    it('refuses a finished attempt’s token with 401 whatever its body or model', async () => {
      const c = await claimTask(h.t);
      await report(h.t, c, 'complete', { result: {}, attempt: c.task.attempt });
      const unrouted = await viaGateway(c, { model: 'anthropic/claude-3.5-sonnet', messages: [user('Hi')] });
      assertOpenAiError(unrouted, 401, 'invalid_api_key', /not running/);
      const empty = await viaGateway(c, { model: 'fake-chat', messages: [] });
      assertOpenAiError(empty, 401, 'invalid_api_key', /not running/);
    });
  });

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
        ['default', 'planner', 'critic'],
        'in the order they started',
      );
      assert.deepEqual(
        ['default', 'planner', 'critic'].map((k) => byKey(conversations, k).call_count),
        [2, 2, 1],
      );
      assert.equal(new Set(conversations.map((x: Body) => x.id)).size, 3, 'distinct conversations');
      for (const conv of conversations) {
        assert.equal(conv.task_id, c.task.id);
        assert.equal(conv.attempt, 1);
        assert.equal(conv.session_id, conv.conversation_key);
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
          ['critic', 2],
          ['default', 1],
        ],
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
        const { conversations } = await getJson(
          h.t,
          `/api/v1/llm-conversations/task/${c.task.id}/conversations`,
        );
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
      const { conversations } = await getJson(
        h.t,
        `/api/v1/llm-conversations/task/${c.task.id}/conversations`,
      );
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
        byKey(
          (await getJson(h.t, `/api/v1/llm-conversations/task/${task.task.id}/conversations`)).conversations,
          key,
        ).id as string;
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

    it('serves a task’s conversations in the order they started', async () => {
      const w = await populate();
      const ofA = await getJson(h.t, `/api/v1/llm-conversations/task/${w.a.task.id}/conversations`);
      assert.equal(ofA.task_id, w.a.task.id);
      assert.equal(ofA.total, 2);
      assert.deepEqual(
        ofA.conversations.map((x: Body) => [x.id, x.conversation_key, x.model_name]),
        [
          [w.ids.aDefault, 'default', 'scripted:echo'],
          [w.ids.aCritic, 'critic', 'fake-chat'],
        ],
      );
      const ofB = await getJson(h.t, `/api/v1/llm-conversations/task/${w.b.task.id}/conversations`);
      assert.deepEqual(
        ofB.conversations.map((x: Body) => x.id),
        [w.ids.bDefault],
      );
      const nobody = randomUUID();
      const empty = await getJson(h.t, `/api/v1/llm-conversations/task/${nobody}/conversations`);
      assert.deepEqual(empty, { task_id: nobody, conversations: [], total: 0 });
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
    });
  });

  describe(`the official OpenAI SDK through the gateway (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

    const sdk = (c: Claimed, apiKey = c.token) => new OpenAI({ baseURL: c.baseUrl, apiKey, maxRetries: 0 });

    it('creates a non-streamed completion', async () => {
      const c = await claimTask(h.t);
      const completion = await sdk(c).chat.completions.create({
        model: 'scripted:echo',
        messages: [{ role: 'user', content: 'hello sdk' }],
      });
      assert.equal(completion.object, 'chat.completion');
      assert.equal(completion.choices[0]?.message.content, 'echo: hello sdk');
      assert.equal(completion.choices[0]?.finish_reason, 'stop');
      assert.ok((completion.usage?.prompt_tokens ?? 0) > 0, 'usage reaches the SDK');
      const calls = await waitForCalls(h.t, c.task.id, 1);
      assert.equal(calls.length, 1);
      assert.deepEqual(
        calls[0].response,
        JSON.parse(JSON.stringify(completion)),
        'recorded as the SDK got it',
      );
    });

    it('streams tool calls that reassemble to the upstream’s', async () => {
      const c = await claimTask(h.t);
      const stream = await sdk(c).chat.completions.create({
        model: 'fake-tools',
        stream: true,
        messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
      });
      let content = '';
      let chunks = 0;
      let finish: string | null = null;
      const calls: { id: string; name: string; arguments: string }[] = [];
      for await (const chunk of stream) {
        chunks++;
        assert.equal(chunk.object, 'chat.completion.chunk');
        assert.equal(chunk.choices.length, 1, 'the injected usage chunk never reaches the agent');
        assert.equal('usage' in chunk, false, 'nor the usage: null the injection adds');
        const choice = chunk.choices[0]!;
        content += choice.delta.content ?? '';
        finish = choice.finish_reason ?? finish;
        for (const tc of choice.delta.tool_calls ?? []) {
          calls[tc.index] ??= { id: '', name: '', arguments: '' };
          const slot = calls[tc.index]!;
          if (tc.id) slot.id = tc.id;
          if (tc.function?.name) slot.name = tc.function.name;
          slot.arguments += tc.function?.arguments ?? '';
        }
      }
      assert.ok(chunks > FAKE_TOOL_CALLS.length, `several chunks (${chunks})`);
      assert.equal(content, FAKE_TOOLS_CONTENT);
      assert.equal(finish, 'tool_calls');
      assert.deepEqual(
        calls,
        FAKE_TOOL_CALLS.map((t) => ({ id: t.id, name: t.name, arguments: t.arguments })),
      );
      const [call] = await waitForCalls(h.t, c.task.id, 1);
      assert.equal(call.stream, true);
      assert.equal(call.end_reason, 'done');
    });

    it('raises AuthenticationError for a bad key and RateLimitError for an upstream 429', async () => {
      const c = await claimTask(h.t);
      await assert.rejects(
        sdk(c, 'not-a-task-token').chat.completions.create({
          model: 'scripted:echo',
          messages: [{ role: 'user', content: 'Hi' }],
        }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${String(err)}`);
          assert.equal(err.status, 401);
          assert.equal(err.code, 'invalid_api_key');
          return true;
        },
      );
      await assert.rejects(
        sdk(c).chat.completions.create({
          model: 'fake-error-429',
          messages: [{ role: 'user', content: 'Hi' }],
        }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.RateLimitError, `RateLimitError, got ${String(err)}`);
          assert.equal(err.status, 429);
          assert.equal(err.code, 'rate_limit_exceeded');
          return true;
        },
      );
      await assert.rejects(
        sdk(c).chat.completions.create({
          model: 'anthropic/claude-3.5-sonnet',
          messages: [{ role: 'user', content: 'Hi' }],
        }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.BadRequestError, `BadRequestError, got ${String(err)}`);
          assert.equal(err.code, 'model_not_configured');
          return true;
        },
      );
      assert.equal(h.fake.requests.length, 1, 'only the 429 call reached the upstream');
    });

    it('lists models', async () => {
      const c = await claimTask(h.t);
      const ids: string[] = [];
      for await (const m of sdk(c).models.list()) ids.push(m.id);
      for (const id of ['scripted:echo', 'vllm-chat', 'vllm-tools'])
        assert.ok(ids.includes(id), `${id} in ${ids}`);
      await assert.rejects(sdk(c, 'nope').models.list(), OpenAI.AuthenticationError);
    });
  });

  describe(`upstream keys stay out of logs and responses (${mode})`, () => {
    const KEY = 'sk-log-canary-Zq8Xw3Vb7Nm2';

    it('logs one "llm call" line per call and never the key', async () => {
      const lines: string[] = [];
      const s = await startLoggedApp(mode, KEY, lines);
      try {
        const c = await claimTask(s.t);
        const replies = [
          await viaGateway(c, { model: 'fake-chat', messages: [user('Hi')] }),
          await viaGateway(c, { model: 'fake-error-401', messages: [user('Hi')] }),
          await viaGateway(c, { model: 'fake-tools', stream: true, messages: [user('Hi')] }),
        ];
        assert.deepEqual(
          replies.map((r) => r.status),
          [200, 401, 200],
        );
        // The fake echoes the bearer it was sent: it did get the key, and the client did not.
        assert.equal(s.fake.requests[1]?.headers.authorization, `Bearer ${KEY}`);
        assert.match(replies[1]!.text, /\[redacted\]/);
        for (const r of replies)
          assert.equal(r.text.includes(KEY), false, `a response shows the key: ${r.text}`);
        await waitForTaskCalls(s.t, c.task.id, 3);
        const stored = JSON.stringify(await recorded(s.t, c.task.id));
        assert.equal(stored.includes(KEY), false, 'the record does not hold the key');
        assert.equal(stored.includes('[redacted]'), true, 'the record holds the scrubbed error');

        // The 'llm call' line follows the record: wait (bounded) for all three.
        const llmCallLines = () => lines.filter((l) => (JSON.parse(l) as Body).msg === 'llm call').length;
        for (let i = 0; i < 100 && llmCallLines() < 3; i++) await sleep(20);
        assert.ok(lines.length > 0, 'the logger collected lines');
        const parsed = lines.map((l) => JSON.parse(l) as Body);
        const llmCalls = parsed.filter((l) => l.msg === 'llm call');
        assert.deepEqual(
          llmCalls.map((l) => [
            l.llm_call.model,
            l.llm_call.status,
            l.llm_call.end_reason,
            l.llm_call.task_id,
          ]),
          [
            ['fake-chat', 200, 'done', c.task.id],
            ['fake-error-401', 401, 'upstream_error', c.task.id],
            ['fake-tools', 200, 'done', c.task.id],
          ],
        );
        assert.equal(s.t.app.log.level, 'debug', 'the app logs at debug');
        const leaks = lines.filter((l) => l.includes(KEY));
        assert.deepEqual(leaks, [], 'no log line holds the upstream key');
        const tokenLeaks = lines.filter((l) => l.includes(c.token));
        assert.deepEqual(tokenLeaks, [], 'no log line holds the task token');
      } finally {
        await s.close();
      }
    });
  });
}

/** Like createTestApp, but logging at debug into `lines`, with the fake upstream as OpenAI under `key`. */
async function startLoggedApp(
  mode: DbMode,
  key: string,
  lines: string[],
): Promise<{ t: TestApp; fake: Awaited<ReturnType<typeof startFakeLlm>>; close(): Promise<void> }> {
  const fake = await startFakeLlm();
  const { db, drop } = await createTestDb(mode);
  const config = loadConfig({
    OPENAI_API_KEY: key,
    OPENAI_BASE_URL: fake.url,
    LLM_TIMEOUT_SECONDS: '3',
    LLM_STREAM_IDLE_TIMEOUT_SECONDS: '1',
  });
  const queue = createQueue(db, {
    leaseSeconds: config.LEASE_SECONDS,
    notifyDebounceMs: config.NOTIFY_DEBOUNCE_MS,
  });
  await queue.start();
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        lines.push(line);
      },
    },
  );
  const app = await createApp({ config, queue, logger });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const t: TestApp = {
    app,
    queue,
    db,
    config,
    url,
    inject: (o) => app.inject(o),
    async close() {
      await app.close();
      await queue.stop();
      await drop();
    },
  };
  return {
    t,
    fake,
    async close() {
      await t.close();
      await fake.close();
    },
  };
}
