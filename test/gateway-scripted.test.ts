/**
 * The scripted upstream: OpenAI's bytes for every policy, streamed and not, consistent token
 * accounting (usage, token ids, logprobs), determinism, AIOpsLab-valid episodes, and errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AIOPSLAB_EXPLORE_STEPS,
  createScriptedUpstream,
  SCRIPTED_MODELS,
  tokenId,
  tokenize,
} from '../src/gateway/scripted.ts';
import type { ChatRequest } from '../src/gateway/upstream-types.ts';

// biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary response JSON.
type Doc = any;

interface Sent {
  status: number;
  headers: Record<string, string>;
  chunks: string[];
  text: string;
}

const asRequest = (body: Record<string, unknown>) => body as ChatRequest;

async function send(body: Record<string, unknown>, signal = new AbortController().signal): Promise<Sent> {
  const reply = await createScriptedUpstream().send(asRequest(body), signal);
  const chunks: string[] = [];
  for await (const c of reply.body) chunks.push(Buffer.from(c).toString());
  return { status: reply.status, headers: reply.headers, chunks, text: chunks.join('') };
}

async function json(body: Record<string, unknown>): Promise<Doc> {
  const r = await send({ ...body, stream: false });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.chunks.length, 1, 'a JSON reply is one chunk');
  return JSON.parse(r.text);
}

/** The events of a stream, checking the framing: one `data: …\n\n` event per chunk, then [DONE]. */
async function stream(body: Record<string, unknown>): Promise<Doc[]> {
  const r = await send({ ...body, stream: true });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'] ?? '', /^text\/event-stream/);
  assert.equal(r.chunks.at(-1), 'data: [DONE]\n\n');
  for (const c of r.chunks) assert.match(c, /^data: [^\n]+\n\n$/);
  return r.chunks.slice(0, -1).map((c) => JSON.parse(c.slice('data: '.length)));
}

/** Content, tool calls and finish reason of a stream, put back together by index. */
function reassemble(events: Doc[]) {
  let content = '';
  let finish: string | null = null;
  const calls: Doc[] = [];
  for (const e of events) {
    for (const ch of e.choices) {
      if (typeof ch.delta.content === 'string') content += ch.delta.content;
      for (const tc of ch.delta.tool_calls ?? []) {
        calls[tc.index] ??= { id: tc.id, type: tc.type, function: { name: tc.function.name, arguments: '' } };
        calls[tc.index].function.arguments += tc.function.arguments ?? '';
      }
      finish = ch.finish_reason ?? finish;
    }
  }
  return { content, calls, finish };
}

const user = (content: string) => ({ role: 'user', content });
const SHELL_TOOL = {
  type: 'function',
  function: {
    name: 'exec_shell',
    description: 'Runs a shell command',
    parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
  },
};

const REQUESTS: Record<string, Record<string, unknown>> = {
  echo: {
    model: 'scripted:echo',
    messages: [{ role: 'system', content: 'Be brief.' }, user('hello, world!')],
  },
  aiopslab: {
    model: 'scripted:aiopslab',
    messages: [
      {
        role: 'system',
        content: 'You are an expert DevOps engineer assigned to detect anomalies in a deployed service.',
      },
      user('Respond with one API call.'),
    ],
  },
  tools: { model: 'scripted:tools', messages: [user('list the pods')], tools: [SHELL_TOOL] },
};

test('the upstream is named scripted and lists its policies', () => {
  const up = createScriptedUpstream();
  assert.equal(up.name, 'scripted');
  assert.equal(up.kind, 'scripted');
  assert.deepEqual(
    [...SCRIPTED_MODELS],
    ['scripted:echo', 'scripted:aiopslab', 'scripted:tools', 'scripted:solver', 'scripted:wrong'],
  );
});

test('echo answers the last user message as a chat.completion', async () => {
  const doc = await json(REQUESTS.echo!);
  assert.equal(doc.object, 'chat.completion');
  assert.equal(doc.model, 'scripted:echo');
  assert.match(doc.id, /^chatcmpl-/);
  assert.equal(typeof doc.created, 'number');
  assert.equal(doc.choices.length, 1);
  const [choice] = doc.choices;
  assert.deepEqual(choice.message, {
    role: 'assistant',
    content: 'echo: hello, world!',
    refusal: null,
    annotations: [],
  });
  assert.equal(choice.finish_reason, 'stop');
  assert.equal(choice.logprobs, null);
  assert.equal(choice.token_ids, undefined);
  assert.equal(doc.prompt_token_ids, undefined);
  assert.equal(doc.usage.completion_tokens, tokenize('echo: hello, world!').length);
  assert.ok(doc.usage.prompt_tokens > 0);
  assert.equal(doc.usage.total_tokens, doc.usage.prompt_tokens + doc.usage.completion_tokens);
});

test('multi-part content is read as text', async () => {
  const doc = await json({
    model: 'scripted:echo',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'part one' }] }],
  });
  assert.equal(doc.choices[0].message.content, 'echo: part one');
});

for (const [policy, body] of Object.entries(REQUESTS)) {
  test(`${policy}: the stream reassembles to the non-streamed reply`, async () => {
    const doc = await json(body);
    const events = await stream(body);
    assert.ok(events.length >= 4, 'role, several content chunks, finish');
    for (const e of events) {
      assert.equal(e.object, 'chat.completion.chunk');
      assert.equal(e.id, doc.id);
      assert.equal(e.created, doc.created);
      assert.equal(e.model, doc.model);
      assert.ok(!('usage' in e), 'no usage unless asked');
      assert.ok(!('prompt_token_ids' in e));
      assert.equal(e.choices.length, 1);
      assert.ok(!('token_ids' in e.choices[0]));
      assert.equal(e.choices[0].logprobs, null);
    }
    assert.deepEqual(events[0].choices[0].delta, { role: 'assistant', content: '', refusal: null });
    const contentChunks = events.filter((e) => typeof e.choices[0].delta.content === 'string');
    assert.ok(contentChunks.length > 2, 'the content comes in several chunks');
    const { content, calls, finish } = reassemble(events);
    const message = doc.choices[0].message;
    assert.equal(content, message.content);
    assert.deepEqual(calls, message.tool_calls ?? []);
    assert.equal(finish, doc.choices[0].finish_reason);
    assert.deepEqual(events.at(-1).choices[0].delta, {}, 'the finish chunk has an empty delta');
  });
}

test('include_usage: usage null on every chunk, then a usage chunk without choices', async () => {
  const body = { ...REQUESTS.echo, stream_options: { include_usage: true } };
  const doc = await json(body);
  const events = await stream(body);
  const last = events.at(-1);
  for (const e of events.slice(0, -1)) {
    assert.equal(e.usage, null);
    assert.equal(e.choices.length, 1);
  }
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, doc.usage);
  assert.deepEqual(Object.keys(last), [
    'id',
    'object',
    'created',
    'model',
    'system_fingerprint',
    'choices',
    'usage',
  ]);
});

test('stream_options without stream does not add usage chunks to a JSON reply', async () => {
  const doc = await json({ ...REQUESTS.echo, stream_options: { include_usage: true } });
  assert.equal(typeof doc.usage.prompt_tokens, 'number');
});

test('token ids and logprobs, when asked, agree with each other and with usage', async () => {
  const body = { ...REQUESTS.echo, logprobs: true, top_logprobs: 3, return_token_ids: true };
  const doc = await json(body);
  const [choice] = doc.choices;
  assert.equal(doc.prompt_token_ids.length, doc.usage.prompt_tokens);
  assert.equal(choice.token_ids.length, doc.usage.completion_tokens);
  const pieces = choice.logprobs.content.map((l: Doc) => l.token);
  assert.equal(pieces.join(''), choice.message.content);
  assert.deepEqual(choice.token_ids, pieces.map(tokenId));
  for (const l of choice.logprobs.content) {
    assert.ok(l.logprob <= 0);
    assert.deepEqual(l.bytes, [...Buffer.from(l.token)]);
    assert.equal(l.top_logprobs.length, 3);
    assert.equal(l.top_logprobs[0].token, l.token, 'the chosen token is the most likely');
    assert.ok(l.top_logprobs[1].logprob < l.logprob);
  }

  const events = await stream(body);
  assert.deepEqual(events[0].prompt_token_ids, doc.prompt_token_ids, 'prompt ids on the first chunk');
  assert.ok(events.slice(1).every((e) => !('prompt_token_ids' in e)));
  const ids = events.flatMap((e) => e.choices[0].token_ids);
  assert.deepEqual(ids, choice.token_ids);
  const logprobs = events.flatMap((e) => e.choices[0].logprobs?.content ?? []);
  assert.deepEqual(logprobs, choice.logprobs.content);
});

test('token ids cover tool-call arguments too', async () => {
  const doc = await json({ ...REQUESTS.tools, return_token_ids: true });
  const [choice] = doc.choices;
  const expected = [
    ...tokenize(choice.message.content),
    ...tokenize(choice.message.tool_calls[0].function.arguments),
  ];
  assert.deepEqual(choice.token_ids, expected.map(tokenId));
  assert.equal(doc.usage.completion_tokens, expected.length);
});

test('top_logprobs 0 gives empty alternatives', async () => {
  const doc = await json({ ...REQUESTS.echo, logprobs: true });
  assert.ok(doc.choices[0].logprobs.content.every((l: Doc) => l.top_logprobs.length === 0));
});

test('the same request gives the same bytes; another gives another id', async () => {
  for (const body of Object.values(REQUESTS)) {
    for (const streamed of [false, true]) {
      const a = await send({ ...body, stream: streamed });
      const b = await send({ ...body, stream: streamed });
      assert.deepEqual(a.chunks, b.chunks);
    }
  }
  const a = await json(REQUESTS.echo!);
  const b = await json({ model: 'scripted:echo', messages: [user('something else')] });
  assert.notEqual(a.id, b.id);
});

test('n > 1 still answers one choice', async () => {
  const doc = await json({ ...REQUESTS.echo, n: 3 });
  assert.equal(doc.choices.length, 1);
});

test('max_tokens cuts the completion and finishes with length', async () => {
  const doc = await json({ ...REQUESTS.echo, max_tokens: 3 });
  assert.equal(doc.choices[0].message.content, tokenize('echo: hello, world!').slice(0, 3).join(''));
  assert.equal(doc.choices[0].finish_reason, 'length');
  assert.equal(doc.usage.completion_tokens, 3);

  const events = await stream({ ...REQUESTS.echo, max_completion_tokens: 3 });
  const r = reassemble(events);
  assert.equal(r.content, doc.choices[0].message.content);
  assert.equal(r.finish, 'length');

  const exact = await json({ ...REQUESTS.echo, max_tokens: tokenize('echo: hello, world!').length });
  assert.equal(exact.choices[0].finish_reason, 'stop', 'a budget just big enough is not a cut');
});

test('max_tokens inside a tool call leaves partial arguments and finish length', async () => {
  const full = await json(REQUESTS.tools!);
  const contentTokens = tokenize(full.choices[0].message.content).length;
  const doc = await json({ ...REQUESTS.tools, max_tokens: contentTokens + 2 });
  const [choice] = doc.choices;
  assert.equal(choice.finish_reason, 'length');
  const args = full.choices[0].message.tool_calls[0].function.arguments;
  assert.equal(choice.message.tool_calls[0].function.arguments, tokenize(args).slice(0, 2).join(''));
  assert.equal(doc.usage.completion_tokens, contentTokens + 2);
});

test('an invalid max_tokens is a 400', async () => {
  const r = await send({ ...REQUESTS.echo, max_tokens: 0 });
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.text).error.param, 'max_tokens');
});

test('tools: a tool call with JSON arguments first, text once the tool answered', async () => {
  const doc = await json(REQUESTS.tools!);
  const [choice] = doc.choices;
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.ok(choice.message.content.length > 0, 'a short text before the call');
  assert.equal(choice.message.tool_calls.length, 1);
  const [call] = choice.message.tool_calls;
  assert.match(call.id, /^call_/);
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'exec_shell');
  assert.deepEqual(JSON.parse(call.function.arguments), { command: 'list the pods' });

  const events = await stream(REQUESTS.tools!);
  const fragments = events.flatMap((e) => e.choices[0].delta.tool_calls ?? []);
  assert.ok(fragments.length > 2, 'the arguments come in several fragments');
  assert.deepEqual(fragments[0], {
    index: 0,
    id: call.id,
    type: 'function',
    function: { name: 'exec_shell', arguments: '' },
  });
  for (const f of fragments.slice(1)) assert.deepEqual(Object.keys(f), ['index', 'function']);
  const kinds = events.map((e) => (e.choices[0].delta.tool_calls ? 'call' : 'other'));
  assert.ok(kinds.indexOf('call') > 1, 'the text comes before the call');
  const contentAfter = events.slice(kinds.indexOf('call')).some((e) => 'content' in e.choices[0].delta);
  assert.ok(!contentAfter, 'and none after it');

  const after = await json({
    ...REQUESTS.tools,
    messages: [
      user('list the pods'),
      { role: 'assistant', content: choice.message.content, tool_calls: choice.message.tool_calls },
      { role: 'tool', tool_call_id: call.id, content: 'pod-a Running' },
    ],
  });
  assert.equal(after.choices[0].finish_reason, 'stop');
  assert.equal(after.choices[0].message.tool_calls, undefined);
  assert.match(after.choices[0].message.content, /pod-a Running/);
});

test('tools without tools behaves like echo', async () => {
  const doc = await json({ model: 'scripted:tools', messages: [user('hi')] });
  assert.equal(doc.choices[0].message.content, 'echo: hi');
  assert.equal(doc.choices[0].finish_reason, 'stop');
});

// --- AIOpsLab ---------------------------------------------------------------------------------

/** aiopslab/orchestrator/parser.py: exactly one ``` block, with nothing after the opening ticks. */
function parseAction(reply: string): string {
  const blocks = [...reply.matchAll(/```\s*\n(.*?)\n```/gs)];
  assert.equal(blocks.length, 1, `one block in ${JSON.stringify(reply)}`);
  assert.equal(reply.split('\n').filter((l) => l.includes('```')).length, 2, 'one pair of ticks');
  assert.ok(
    reply.split('\n').some((l) => l === '```'),
    'no language tag',
  );
  return blocks[0]![1]!.trim();
}

const TASKS = {
  detection: 'You are an expert DevOps engineer assigned to detect anomalies in a deployed service.',
  localization: 'You are an expert DevOps engineer assigned to localize faults in a deployed service.',
  analysis: 'You are an expert DevOps engineer assigned to do root cause analysis in a deployed service.',
  mitigation:
    'You are an expert DevOps engineer assigned to mitigate anomalies in a deployed service.\n\n' +
    'You will begin by analyzing the service state, and then submit a solution that mitigates any detected anomalies.',
};

const PODS = [
  'NAMESPACE                NAME                          READY   STATUS             RESTARTS   AGE',
  'kube-system              coredns-5d78c9869d-4xkqp      1/1     Running            0          9m',
  'test-hotel-reservation   geo-84fbc958c7-mvkzb          0/1     CrashLoopBackOff   5          4m',
  'test-hotel-reservation   profile-8b6dd7c6c-9jqlp       1/1     Running            0          4m',
].join('\n');

/** Plays an episode like AIOpsLab's stock clients: the replies and observations fed back. */
async function episode(description: string, streamed = false): Promise<string[]> {
  const messages: Doc[] = [
    {
      role: 'system',
      content: `${description}\n\nService Details:\nService Name: Hotel Reservation\nNamespace: test-hotel-reservation\n`,
    },
    user('You will respond with one of the above APIs as your next action.'),
  ];
  const actions: string[] = [];
  for (let step = 0; step < 6; step++) {
    const body = { model: 'scripted:aiopslab', messages };
    const reply = streamed
      ? reassemble(await stream(body)).content
      : (await json(body)).choices[0].message.content;
    const action = parseAction(reply);
    actions.push(action);
    if (action.startsWith('submit(')) break;
    messages.push({ role: 'assistant', content: reply }, user(`${PODS}\nPlease take the next action`));
  }
  return actions;
}

for (const [type, description] of Object.entries(TASKS)) {
  test(`aiopslab ${type}: a few shell commands, then a valid submit`, async () => {
    const actions = await episode(description);
    assert.equal(actions.length, AIOPSLAB_EXPLORE_STEPS + 1);
    for (const a of actions.slice(0, -1)) assert.match(a, /^exec_shell\("[^"\\]+"\)$/);
    assert.notEqual(actions[0], actions[1], 'the commands vary by step');
    const submit = actions.at(-1)!;
    const arg = /^submit\((.*)\)$/.exec(submit)?.[1];
    assert.notEqual(arg, undefined, submit);
    if (type === 'detection') assert.equal(submit, 'submit("Yes")');
    if (type === 'localization') {
      assert.deepEqual(JSON.parse(arg!), ['geo'], 'the crashing pod’s service');
    }
    if (type === 'analysis') {
      const answer = JSON.parse(arg!);
      assert.deepEqual(Object.keys(answer), ['system_level', 'fault_type']);
      assert.ok(
        ['Hardware', 'Operating System', 'Virtualization', 'Application'].includes(answer.system_level),
      );
      assert.ok(
        [
          'Misconfiguration',
          'Code Defect',
          'Authentication Issue',
          'Network/Storage Issue',
          'Operation Error',
          'Dependency Problem',
        ].includes(answer.fault_type),
      );
    }
    if (type === 'mitigation') assert.equal(submit, 'submit()');
    assert.deepEqual(await episode(description, true), actions, 'streamed the same');
  });
}

test('aiopslab localization without pod listings still names a service', async () => {
  const doc = await json({
    model: 'scripted:aiopslab',
    messages: [
      { role: 'system', content: TASKS.localization },
      user('instructions'),
      { role: 'assistant', content: '```\nexec_shell("ls")\n```' },
      user('nothing useful'),
      { role: 'assistant', content: '```\nexec_shell("ls")\n```' },
      user('nothing useful'),
    ],
  });
  const arg = /^submit\((.*)\)$/.exec(parseAction(doc.choices[0].message.content))?.[1];
  const services = JSON.parse(arg!);
  assert.equal(services.length, 1);
  assert.equal(typeof services[0], 'string');
});

// --- Errors and cancellation ------------------------------------------------------------------

test('an unknown policy is a 404 naming the known ones', async () => {
  for (const streamed of [false, true]) {
    const r = await send({ model: 'scripted:nope', messages: [user('hi')], stream: streamed });
    assert.equal(r.status, 404);
    assert.equal(r.headers['content-type'], 'application/json');
    const { error } = JSON.parse(r.text);
    assert.deepEqual(Object.keys(error), ['message', 'type', 'param', 'code']);
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.param, 'model');
    assert.equal(error.code, 'model_not_found');
    for (const m of SCRIPTED_MODELS) assert.ok(error.message.includes(m), error.message);
  }
});

test('messages that are not an array are a 400', async () => {
  const r = await send({ model: 'scripted:echo', messages: 'hi' });
  assert.equal(r.status, 400);
  const { error } = JSON.parse(r.text);
  assert.equal(error.type, 'invalid_request_error');
  assert.equal(error.param, 'messages');
});

test('an aborted signal stops the stream; an already aborted one refuses to send', async () => {
  const ac = new AbortController();
  const reply = await createScriptedUpstream().send(
    asRequest({ ...REQUESTS.aiopslab!, stream: true }),
    ac.signal,
  );
  let n = 0;
  for await (const _ of reply.body) {
    n++;
    if (n === 2) ac.abort();
  }
  assert.equal(n, 2);
  await assert.rejects(createScriptedUpstream().send(asRequest(REQUESTS.echo!), ac.signal), {
    name: 'AbortError',
  });
});
