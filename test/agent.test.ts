/**
 * The built-in agent against a fake OpenAI-compatible endpoint on 127.0.0.1: the exact prompt of
 * each stock-client style, what goes over the wire, errors that must never pass for a reply,
 * abort, and agent_config validation.
 *
 * The expected system prompts below were produced by running AIOpsLab's own clients (gpt.py,
 * react.py, flash.py, deepseek.py, llama.py at commit ddf7e40) on the same problem, with their
 * LLM and imports stubbed, and capturing the messages they passed to the model.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import {
  type AgentConfig,
  AgentConfigError,
  buildMessages,
  type ChatMessage,
  GatewayAgent,
  LlmCallError,
  LlmClient,
  PROMPT_STYLES,
  type ProblemContext,
  type PromptStyle,
  parseAgentConfig,
  parseCompletion,
} from '../src/agent/index.ts';

const PROBLEM: ProblemContext = {
  // Braces must come through as they are (AIOpsLab formats with str.format, which does not rescan).
  task_description: 'Detect anomalies in {app}.\n',
  instructions: 'Reply with one call.',
  apis: {
    exec_shell: 'Run a shell command.\n    Args: command (str)',
    get_logs: 'Fetch logs.',
    read_traces: 'Read traces.',
    submit: 'Submit the answer.\n    Args: has_anomaly (str)',
  },
};

const SHELL_ONLY_SYSTEM =
  'Detect anomalies in {app}.\n\nYou are provided with a direct API to a secure terminal to the service where you can run commands:\n\nexec_shell\nRun a shell command.\n    Args: command (str)\n\nFinally, you will submit your solution for this task using the following API:\n\nsubmit\nSubmit the answer.\n    Args: has_anomaly (str)\n\nIMPORTANT:\n1. The submit() call must strictly follow its defined parameter signature for this task.\n2. Provide the call in a markdown code block.\n\nAt each turn respond with:\nAction: <your action>\n';

const EXPECTED_SYSTEM: Record<PromptStyle, string> = {
  gpt: SHELL_ONLY_SYSTEM,
  deepseek: SHELL_ONLY_SYSTEM,
  react:
    'Detect anomalies in {app}.\n\nYou are provided with the following APIs to interact with the service:\n\n\nget_logs\nFetch logs.\n\nread_traces\nRead traces.\n\n\nYou are also provided an API to a secure terminal to the service where you can run commands:\n\n\nexec_shell\nRun a shell command.\n    Args: command (str)\n\n\nFinally, you will submit your solution for this task using the following API:\n\n\nsubmit\nSubmit the answer.\n    Args: has_anomaly (str)\n\n\nAt each turn think step-by-step and respond with:\nThought: <your thought>\nAction: <your action>\n',
  llama:
    'Detect anomalies in {app}.\n\nYou are provided with the following APIs to interact with the service:\n\n\nget_logs\nFetch logs.\n\n\nYou are also provided an API to a secure terminal to the service where you can run commands:\n\n\nexec_shell\nRun a shell command.\n    Args: command (str)\n\n\nFinally, you will submit your solution for this task using the following API:\n\n\nsubmit\nSubmit the answer.\n    Args: has_anomaly (str)\n\n\nAt each turn think step-by-step and respond with:\nThought: <your thought>\nAction: <your action>\n',
  flash:
    '\n        Problem Description: Detect anomalies in {app}.\n\n\n        Available Telemetry APIs:\n        get_logs\nFetch logs.\n\nread_traces\nRead traces.\n\n        Shell API:\n        exec_shell\nRun a shell command.\n    Args: command (str)\n\n        Submit API:\n        submit\nSubmit the answer.\n    Args: has_anomaly (str)\n        ',
};

const REACT_SUFFIX =
  '\n\nDO NOT REPEAT ACTIONS! Respond with:\nThought: <your thought on the previous output>\nAction: <your action towards mitigating>\n';

const FIRST_INPUT = 'Please take the next action';
const SECOND_INPUT = 'pod-a Running\nPlease take the next action';

/** The messages a stock client of `style` sends on its second call, written out by hand. */
function expectedSecondPrompt(style: PromptStyle, firstReply: string): ChatMessage[] {
  const user = (input: string): ChatMessage => ({
    role: 'user',
    content: style === 'react' ? input + REACT_SUFFIX : input,
  });
  return [
    { role: 'system', content: EXPECTED_SYSTEM[style] },
    { role: 'user', content: PROBLEM.instructions },
    ...(style === 'deepseek' ? [{ role: 'assistant', content: '' } as ChatMessage] : []),
    user(FIRST_INPUT),
    { role: 'assistant', content: firstReply },
    user(SECOND_INPUT),
  ];
}

interface Captured {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: { model: string; messages: ChatMessage[]; [key: string]: unknown };
}

/** `hang` keeps the request open without answering (until the test's server closes). */
type Answer = { status?: number; json?: unknown; text?: string } | { hang: true };

interface FakeEndpoint {
  baseUrl: string;
  requests: Captured[];
  /** Resolves when the n-th request (1-based) has arrived. */
  arrived(n: number): Promise<void>;
}

/** A fake OpenAI-compatible endpoint; `answer` gets each request and its 0-based index. */
async function fakeEndpoint(
  t: TestContext,
  answer: (req: Captured, index: number) => Answer,
): Promise<FakeEndpoint> {
  const requests: Captured[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const captured: Captured = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
    };
    requests.push(captured);
    for (const w of waiters) if (requests.length >= w.n) w.resolve();
    const reply = answer(captured, requests.length - 1);
    if ('hang' in reply) return;
    const text = reply.text ?? JSON.stringify(reply.json);
    res.writeHead(reply.status ?? 200, {
      'content-type': reply.text === undefined ? 'application/json' : 'text/plain',
    });
    res.end(text);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/llm/v1`,
    requests,
    arrived: (n) =>
      requests.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
  };
}

function completion(content: string | null, extra: Record<string, unknown> = {}) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    model: 'gpt-4o-2024-08-06',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 },
    ...extra,
  };
}

function openAiError(status: number, code: string | null, type: string, message: string): Answer {
  return { status, json: { error: { message, type, param: null, code } } };
}

function agentFor(endpoint: FakeEndpoint, config: Partial<AgentConfig> = {}, signal?: AbortSignal) {
  const agent = new GatewayAgent({
    baseUrl: endpoint.baseUrl,
    apiKey: 'task-token-123',
    config: { model: 'gpt-4o', prompt_style: 'gpt', ...config },
    signal,
  });
  agent.init(PROBLEM);
  return agent;
}

/** Asserts `promise` rejects with an LlmCallError and returns it for closer checks. */
async function rejectsWithLlmError(promise: Promise<unknown>): Promise<LlmCallError> {
  let caught: unknown;
  await assert.rejects(promise, (err) => {
    caught = err;
    return err instanceof LlmCallError;
  });
  return caught as LlmCallError;
}

test('each prompt style sends exactly the messages its AIOpsLab stock client sends', async (t) => {
  for (const style of PROMPT_STYLES) {
    await t.test(style, async (st) => {
      const endpoint = await fakeEndpoint(st, (_req, i) => ({ json: completion(`reply ${i + 1}`) }));
      const agent = agentFor(endpoint, { prompt_style: style });
      assert.equal(await agent.getAction(FIRST_INPUT), 'reply 1');
      assert.equal(await agent.getAction(SECOND_INPUT), 'reply 2');
      const second = expectedSecondPrompt(style, 'reply 1');
      assert.deepEqual(endpoint.requests[0]!.body.messages, second.slice(0, -2));
      assert.deepEqual(endpoint.requests[1]!.body.messages, second);
      assert.deepEqual(agent.messages(), [...second, { role: 'assistant', content: 'reply 2' }]);
      // The pure builder gives the same prompt, so it can be checked without a server.
      assert.deepEqual(
        buildMessages(style, PROBLEM, [{ input: FIRST_INPUT, reply: 'reply 1' }, { input: SECOND_INPUT }]),
        second,
      );
    });
  }
});

test('the gpt style documents only exec_shell and submit; react adds the telemetry APIs', () => {
  const gpt = buildMessages('gpt', PROBLEM, [])[0]!.content;
  const react = buildMessages('react', PROBLEM, [])[0]!.content;
  assert.ok(gpt.startsWith(PROBLEM.task_description));
  assert.ok(gpt.includes('exec_shell\nRun a shell command.') && gpt.includes('submit\nSubmit the answer.'));
  assert.ok(!gpt.includes('get_logs') && !gpt.includes('read_traces'));
  assert.ok(react.includes('get_logs\nFetch logs.\n\nread_traces\nRead traces.'));
  assert.ok(react.includes('Thought: <your thought>\nAction: <your action>'));
});

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

const DEFAULTS = { model: 'gpt-4o' };

test('parseAgentConfig fills defaults and keeps what is valid', () => {
  assert.deepEqual(parseAgentConfig(undefined, DEFAULTS), { model: 'gpt-4o', prompt_style: 'gpt' });
  assert.deepEqual(parseAgentConfig({}, DEFAULTS), { model: 'gpt-4o', prompt_style: 'gpt' });
  assert.deepEqual(
    parseAgentConfig(
      {
        model: 'qwen/qwen-2.5-72b',
        temperature: 0,
        max_tokens: 1024,
        top_p: 1,
        prompt_style: 'react',
        conversation_id: 'run-1',
        stop: ['\n'],
        vendor_hint: { x: 1 },
      },
      DEFAULTS,
    ),
    {
      model: 'qwen/qwen-2.5-72b',
      temperature: 0,
      max_tokens: 1024,
      top_p: 1,
      prompt_style: 'react',
      conversation_id: 'run-1',
    },
  );
  assert.deepEqual(parseAgentConfig({ temperature: null, model: null, prompt_style: null }, DEFAULTS), {
    model: 'gpt-4o',
    prompt_style: 'gpt',
  });
  assert.equal(parseAgentConfig({ temperature: 2, top_p: 0 }, DEFAULTS).temperature, 2);
  for (const style of PROMPT_STYLES)
    assert.equal(parseAgentConfig({ prompt_style: style }, DEFAULTS).prompt_style, style);
});

test('parseAgentConfig rejects each bad field with a message naming it', () => {
  const bad: [field: string, raw: unknown][] = [
    ['agent_config', 'gpt-4o'],
    ['agent_config', ['gpt-4o']],
    ['model', { model: '' }],
    ['model', { model: '   ' }],
    ['model', { model: 42 }],
    ['model', { model: 'm'.repeat(201) }],
    ['temperature', { temperature: -0.1 }],
    ['temperature', { temperature: 2.5 }],
    ['temperature', { temperature: '0.5' }],
    ['temperature', { temperature: Number.NaN }],
    ['top_p', { top_p: 1.01 }],
    ['top_p', { top_p: -1 }],
    ['max_tokens', { max_tokens: 0 }],
    ['max_tokens', { max_tokens: 1.5 }],
    ['max_tokens', { max_tokens: '1024' }],
    ['prompt_style', { prompt_style: 'autogen' }],
    ['prompt_style', { prompt_style: 'GPT' }],
    ['conversation_id', { conversation_id: '' }],
    ['conversation_id', { conversation_id: 'a\r\nx-injected: 1' }],
    ['conversation_id', { conversation_id: 7 }],
  ];
  for (const [field, raw] of bad) {
    assert.throws(
      () => parseAgentConfig(raw, DEFAULTS),
      (err) =>
        err instanceof AgentConfigError &&
        err.field === field &&
        err.message.includes(field === 'agent_config' ? 'agent_config' : `agent_config.${field}`),
      `expected ${JSON.stringify(raw)} to be refused for ${field}`,
    );
  }
  assert.throws(() => parseAgentConfig({ prompt_style: 'autogen' }, DEFAULTS), /gpt, react, flash/);
  assert.throws(() => parseAgentConfig({}, { model: '' }), AgentConfigError);
});
