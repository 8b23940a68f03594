/**
 * The built-in agent over the wire, against a fake OpenAI-compatible endpoint on 127.0.0.1: what
 * is sent, the reply returned byte for byte, errors that must never pass for a reply, retries of
 * a failed turn, abort.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { GatewayAgent, LlmCallError, LlmClient, parseCompletion } from '../src/agent/index.ts';
import {
  type Answer,
  agentFor,
  completion,
  FIRST_INPUT,
  fakeEndpoint,
  openAiError,
  PROBLEM,
  rejectsWithLlmError,
} from './helpers/agent.ts';

test('model, sampling settings, Authorization and X-Conversation-Id go over the wire', async (t) => {
  const endpoint = await fakeEndpoint(t, () => ({ json: completion('ok') }));
  const agent = agentFor(endpoint, {
    model: 'openrouter/qwen-2.5',
    temperature: 0.5,
    max_tokens: 1024,
    top_p: 0.95,
    conversation_id: 'task-42-attempt-1',
  });
  await agent.getAction(FIRST_INPUT);
  const req = endpoint.requests[0]!;
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/llm/v1/chat/completions');
  assert.equal(req.headers.authorization, 'Bearer task-token-123');
  assert.equal(req.headers['x-conversation-id'], 'task-42-attempt-1');
  assert.equal(req.headers['content-type'], 'application/json');
  assert.deepEqual(Object.keys(req.body).sort(), ['max_tokens', 'messages', 'model', 'temperature', 'top_p']);
  assert.equal(req.body.model, 'openrouter/qwen-2.5');
  assert.equal(req.body.temperature, 0.5);
  assert.equal(req.body.max_tokens, 1024);
  assert.equal(req.body.top_p, 0.95);
});

test('settings that are not configured are not sent at all (not even as null)', async (t) => {
  const endpoint = await fakeEndpoint(t, () => ({ json: completion('ok') }));
  await agentFor(endpoint).getAction(FIRST_INPUT);
  const req = endpoint.requests[0]!;
  assert.deepEqual(Object.keys(req.body).sort(), ['messages', 'model']);
  assert.equal(req.headers['x-conversation-id'], undefined);
});

test('a trailing slash on the base URL does not double the slash', async (t) => {
  const endpoint = await fakeEndpoint(t, () => ({ json: completion('ok') }));
  const client = new LlmClient({ baseUrl: `${endpoint.baseUrl}/`, apiKey: 'k' });
  await client.complete({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(endpoint.requests[0]!.path, '/llm/v1/chat/completions');
});

test('the reply comes back byte for byte: whitespace, fences and free text are the parser’s business', async (t) => {
  const raw =
    '  Thought: the pods look fine.\n\n```\nexec_shell("kubectl get pods -n test-social-network")\n```\n\tünïcode ✓  \n';
  const endpoint = await fakeEndpoint(t, () => ({ json: completion(raw) }));
  const agent = agentFor(endpoint);
  assert.equal(await agent.getAction(FIRST_INPUT), raw);
  assert.deepEqual(agent.messages().at(-1), { role: 'assistant', content: raw });
});

test('usage is summed over the calls that returned a reply', async (t) => {
  const endpoint = await fakeEndpoint(t, (_req, i) =>
    i === 1 ? { json: completion('no usage', { usage: undefined }) } : { json: completion('ok') },
  );
  const agent = agentFor(endpoint);
  for (const input of ['a', 'b', 'c']) await agent.getAction(input);
  assert.deepEqual(agent.usage, { calls: 3, prompt_tokens: 200, completion_tokens: 20, total_tokens: 220 });
});

test('HTTP errors raise LlmCallError with status, code, type and retryable, never a reply', async (t) => {
  const cases: { name: string; answer: Answer; status: number; code: string | null; retryable: boolean }[] = [
    {
      name: 'rate limited',
      answer: openAiError(429, 'rate_limit_exceeded', 'requests', 'Rate limit reached for gpt-4o'),
      status: 429,
      code: 'rate_limit_exceeded',
      retryable: true,
    },
    {
      name: 'out of quota (a 429 that time does not fix)',
      answer: openAiError(429, 'insufficient_quota', 'insufficient_quota', 'You exceeded your current quota'),
      status: 429,
      code: 'insufficient_quota',
      retryable: false,
    },
    {
      name: 'bad key',
      answer: openAiError(401, 'invalid_api_key', 'invalid_request_error', 'Incorrect API key provided'),
      status: 401,
      code: 'invalid_api_key',
      retryable: false,
    },
    {
      name: 'server error with a plain-text body',
      answer: { status: 500, text: 'upstream exploded' },
      status: 500,
      code: null,
      retryable: true,
    },
    {
      name: 'this server’s own error shape',
      answer: { status: 503, json: { error: 'Database unavailable', code: 'DB_UNAVAILABLE' } },
      status: 503,
      code: 'DB_UNAVAILABLE',
      retryable: true,
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async (st) => {
      const endpoint = await fakeEndpoint(st, () => c.answer);
      const agent = agentFor(endpoint);
      const err = await rejectsWithLlmError(agent.getAction(FIRST_INPUT));
      assert.equal(err.status, c.status);
      assert.equal(err.code, c.code);
      assert.equal(err.retryable, c.retryable);
      assert.ok(err.detail && err.message.includes(err.detail), err.message);
      // Nothing the model did not say enters the conversation.
      assert.equal(agent.messages().at(-1)?.role, 'user');
      assert.ok(!agent.messages().some((m) => m.role === 'assistant'));
      assert.equal(agent.usage.calls, 0);
    });
  }
  await t.test('the OpenAI type and message are carried', async (st) => {
    const endpoint = await fakeEndpoint(st, () =>
      openAiError(
        400,
        'context_length_exceeded',
        'invalid_request_error',
        'maximum context length is 128000',
      ),
    );
    const err = await rejectsWithLlmError(agentFor(endpoint).getAction(FIRST_INPUT));
    assert.equal(err.type, 'invalid_request_error');
    assert.equal(err.detail, 'maximum context length is 128000');
  });
});

test('a retry of the failed turn does not record its input twice', async (t) => {
  const endpoint = await fakeEndpoint(t, (_req, i) =>
    i === 0 ? openAiError(429, 'rate_limit_exceeded', 'requests', 'slow down') : { json: completion('ok') },
  );
  const agent = agentFor(endpoint);
  const err = await rejectsWithLlmError(agent.getAction(FIRST_INPUT));
  assert.equal(err.retryable, true);
  assert.equal(await agent.getAction(FIRST_INPUT), 'ok');
  assert.deepEqual(endpoint.requests[1]!.body.messages, endpoint.requests[0]!.body.messages);
  assert.deepEqual(agent.history(), [{ input: FIRST_INPUT, reply: 'ok' }]);
  assert.deepEqual(
    agent.messages().map((m) => m.role),
    ['system', 'user', 'user', 'assistant'],
  );
});

test('a different input after a failed turn starts a new turn after the unanswered one', async (t) => {
  const endpoint = await fakeEndpoint(t, (_req, i) =>
    i === 0 ? { status: 502, text: 'bad gateway' } : { json: completion('ok') },
  );
  const agent = agentFor(endpoint);
  await rejectsWithLlmError(agent.getAction('first'));
  await agent.getAction('second');
  assert.deepEqual(agent.history(), [{ input: 'first' }, { input: 'second', reply: 'ok' }]);
  assert.deepEqual(endpoint.requests[1]!.body.messages.slice(2), [
    { role: 'user', content: 'first' },
    { role: 'user', content: 'second' },
  ]);
});

test('a 2xx without a usable message is an empty_reply error, not an empty action', async (t) => {
  const bodies: { name: string; json: unknown }[] = [
    { name: 'no choices', json: { id: 'x', choices: [] } },
    { name: 'choices missing', json: { id: 'x' } },
    { name: 'null content', json: completion(null) },
  ];
  for (const b of bodies) {
    await t.test(b.name, async (st) => {
      const endpoint = await fakeEndpoint(st, () => ({ json: b.json }));
      const err = await rejectsWithLlmError(agentFor(endpoint).getAction(FIRST_INPUT));
      assert.equal(err.code, 'empty_reply');
      assert.equal(err.status, 200);
      assert.equal(err.retryable, false);
    });
  }
});

test('odd 2xx bodies: an error object, a non-JSON body, tool calls without content', () => {
  assert.throws(
    () => parseCompletion(200, JSON.stringify({ error: { code: 502, message: 'Provider returned error' } })),
    (err) => err instanceof LlmCallError && err.retryable && err.code === '502' && err.status === 200,
  );
  assert.throws(
    () =>
      parseCompletion(
        200,
        JSON.stringify({
          choices: [
            { message: { content: 'partial' }, finish_reason: 'error', error: { message: 'cut off' } },
          ],
        }),
      ),
    (err) => err instanceof LlmCallError && err.detail === 'cut off',
  );
  assert.throws(
    () => parseCompletion(200, '<html>proxy login</html>'),
    (err) => err instanceof LlmCallError && err.code === 'invalid_response',
  );
  const toolOnly = parseCompletion(
    200,
    JSON.stringify({
      choices: [
        {
          message: { content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'f' } }] },
          finish_reason: 'tool_calls',
        },
      ],
    }),
  );
  assert.equal(toolOnly.text, '');
  assert.equal(toolOnly.toolCalls.length, 1);
  assert.equal(toolOnly.finishReason, 'tool_calls');
  assert.equal(toolOnly.usage, null);
});

test('an unreachable endpoint is a retryable network_error with no status', async () => {
  // A port that was just free: bind, note it, close.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  const agent = new GatewayAgent({
    baseUrl: `http://127.0.0.1:${port}/llm/v1`,
    apiKey: 'k',
    config: { model: 'm', prompt_style: 'gpt' },
  });
  agent.init(PROBLEM);
  const err = await rejectsWithLlmError(agent.getAction(FIRST_INPUT));
  assert.equal(err.status, null);
  assert.equal(err.code, 'network_error');
  assert.equal(err.retryable, true);
});

test('aborting the signal ends the call in flight with the signal’s reason', async (t) => {
  const endpoint = await fakeEndpoint(t, () => ({ hang: true }));
  const controller = new AbortController();
  const agent = agentFor(endpoint, {}, controller.signal);
  const pending = agent.getAction(FIRST_INPUT);
  await endpoint.arrived(1);
  const reason = new Error('task cancelled');
  controller.abort(reason);
  await assert.rejects(pending, (err) => err === reason);
  // The agent is usable for nothing more, and says so without calling out.
  await assert.rejects(agent.getAction(FIRST_INPUT), (err) => err === reason);
  assert.equal(endpoint.requests.length, 1);
});

test('an already aborted signal makes no request', async (t) => {
  const endpoint = await fakeEndpoint(t, () => ({ json: completion('ok') }));
  const agent = agentFor(endpoint, {}, AbortSignal.abort());
  await assert.rejects(agent.getAction(FIRST_INPUT), (err) => (err as Error).name === 'AbortError');
  assert.equal(endpoint.requests.length, 0);
});

test('getAction needs init first and one call at a time; init happens once', async (t) => {
  const endpoint = await fakeEndpoint(t, () => ({ json: completion('ok') }));
  const fresh = new GatewayAgent({
    baseUrl: endpoint.baseUrl,
    apiKey: 'k',
    config: { model: 'm', prompt_style: 'gpt' },
  });
  await assert.rejects(fresh.getAction(FIRST_INPUT), /before init/);
  assert.deepEqual(fresh.messages(), []);
  fresh.init(PROBLEM);
  assert.throws(() => fresh.init(PROBLEM), /already/);
  const first = fresh.getAction('a');
  await assert.rejects(fresh.getAction('b'), /in flight/);
  assert.equal(await first, 'ok');
  assert.equal(endpoint.requests.length, 1);
});

test('the client refuses a base URL that is not http(s) and an empty key', () => {
  assert.throws(() => new LlmClient({ baseUrl: 'ftp://127.0.0.1/llm/v1', apiKey: 'k' }), /http\(s\)/);
  assert.throws(() => new LlmClient({ baseUrl: 'not a url', apiKey: 'k' }), /not a URL/);
  assert.throws(() => new LlmClient({ baseUrl: 'http://127.0.0.1:1/llm/v1', apiKey: '' }), /apiKey/);
});
