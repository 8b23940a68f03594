/**
 * Who may call the gateway, and what it refuses before forwarding, over real HTTP: task-token
 * auth (missing, garbage, forged, finished and superseded attempts, /models too), model routing
 * errors naming the variable to set, malformed bodies, and Fastify's own refusals under /llm/v1,
 * all in OpenAI's error shape.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Body } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import {
  assertOpenAiError,
  chatAs,
  claimAs,
  claimTask,
  type GatewayHarness,
  getStatus,
  post,
  recorded,
  report,
  startHarness,
  user,
  viaGateway,
  waitForTaskCalls,
} from './helpers/gateway.ts';

for (const mode of dbModes()) {
  describe(`gateway task-token auth (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

    const hello = { model: 'fake-chat', messages: [user('Hi')] };

    it('refuses a call without a valid token before reading its body', async () => {
      const c = await claimTask(h.t);
      // Bodies the JSON parser or the depth limit would refuse: the token is looked at first.
      for (const body of ['{"a":', `${'['.repeat(200)}${']'.repeat(200)}`]) {
        for (const authorization of [undefined, 'Bearer garbage']) {
          const res = await fetch(`${c.baseUrl}/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
            body,
          });
          assert.equal(res.status, 401, `${authorization} ${body.slice(0, 10)}`);
          assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
        }
      }
      // With the genuine token the same bad body is read, and refused for what it is.
      const bad = await fetch(`${c.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` },
        body: '{"a":',
      });
      assert.equal(bad.status, 400);
    });

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
          [2, 'default', 1, 'worker-950-kind'],
          [1, 'default', 1, c.workerId],
        ],
        'one conversation per attempt, newest first',
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
        ['message without role', { model: 'fake-chat', messages: [{ content: 'Hi' }] }, 'messages[0].role'],
        ['message not an object', { model: 'fake-chat', messages: ['Hi'] }, 'messages[0]'],
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
}
