/**
 * The fake OpenAI-compatible upstream does what its models promise, over real HTTP on 127.0.0.1:
 * fixed bytes, OpenAI's stream shapes, vLLM's extras, errors, stalls, drops and slowness.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  FAKE_CHAT_CONTENT,
  FAKE_CHAT_TOKENS,
  FAKE_CREATED,
  FAKE_ID,
  FAKE_REASONING_TOKENS,
  FAKE_TOOL_CALLS,
  FAKE_TOOLS_CONTENT,
  type FakeLlm,
  readSse,
  startFakeLlm,
} from './fixtures/fake-llm.ts';

// biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary response JSON.
type Doc = any;

let fake: FakeLlm;
before(async () => {
  fake = await startFakeLlm();
});
after(() => fake.close());

const messages = [{ role: 'user', content: 'hello there' }];

function post(body: Record<string, unknown>, init: RequestInit = {}): Promise<Response> {
  return fetch(`${fake.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test-secret-123' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
    ...init,
  });
}

async function events(body: Record<string, unknown>): Promise<Doc[]> {
  const res = await post({ ...body, stream: true });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const text = await res.text();
  assert.ok(text.endsWith('data: [DONE]\n\n'));
  return readSse(text);
}

test('models are listed', async () => {
  const res = await fetch(`${fake.url}/models`);
  const doc = await res.json();
  assert.equal(doc.object, 'list');
  assert.ok(doc.data.some((m: Doc) => m.id === 'fake-chat'));
});

test('fake-chat: fixed compact JSON, the same bytes every time, requests recorded', async () => {
  const count = fake.requests.length;
  const a = await (await post({ model: 'fake-chat', messages })).text();
  const b = await (await post({ model: 'fake-chat', messages })).text();
  assert.equal(a, b);
  assert.equal(a, JSON.stringify(JSON.parse(a)), 'compact');
  const doc = JSON.parse(a);
  assert.equal(doc.id, FAKE_ID);
  assert.equal(doc.created, FAKE_CREATED);
  assert.equal(doc.object, 'chat.completion');
  assert.equal(doc.model, 'fake-chat');
  assert.equal(doc.choices[0].message.content, FAKE_CHAT_CONTENT);
  assert.equal(doc.choices[0].finish_reason, 'stop');
  assert.ok(doc.usage.prompt_tokens_details.cached_tokens > 0);
  assert.equal(doc.usage.completion_tokens_details.reasoning_tokens, FAKE_REASONING_TOKENS);
  assert.equal(fake.requests.length, count + 2);
  const last = fake.requests.at(-1)!;
  assert.equal(last.body.model, 'fake-chat');
  assert.equal(last.headers.authorization, 'Bearer sk-test-secret-123');
});

test('fake-chat streamed: role chunk, one chunk per token, finish chunk, [DONE]', async () => {
  const evs = await events({ model: 'fake-chat', messages });
  assert.deepEqual(evs[0].choices[0].delta, { role: 'assistant', content: '', refusal: null });
  const content = evs.slice(1, -1).map((e) => e.choices[0].delta.content);
  assert.deepEqual(content, FAKE_CHAT_TOKENS);
  assert.equal(evs.at(-1).choices[0].finish_reason, 'stop');
  assert.deepEqual(evs.at(-1).choices[0].delta, {});
  for (const e of evs) {
    assert.equal(e.object, 'chat.completion.chunk');
    assert.equal(e.id, FAKE_ID);
    assert.ok(!('usage' in e));
  }
});

test('fake-tools: content first, then two calls interleaved by index', async () => {
  const doc = await (await post({ model: 'fake-tools', messages })).json();
  const message = doc.choices[0].message;
  assert.equal(doc.choices[0].finish_reason, 'tool_calls');
  assert.equal(message.content, FAKE_TOOLS_CONTENT);
  assert.deepEqual(
    message.tool_calls.map((c: Doc) => [c.id, c.function.name, c.function.arguments]),
    FAKE_TOOL_CALLS.map((c) => [c.id, c.name, c.arguments]),
  );

  const evs = await events({ model: 'fake-tools', messages });
  const deltas = evs.map((e) => e.choices[0].delta);
  const firstCall = deltas.findIndex((d) => d.tool_calls);
  assert.ok(
    deltas.slice(firstCall).every((d) => !('content' in d)),
    'content before the calls',
  );
  const order = deltas.flatMap((d) => d.tool_calls ?? []).map((f: Doc) => f.index);
  assert.deepEqual(order.slice(0, 4), [0, 0, 1, 1]);
  assert.deepEqual(order.slice(4, 6), [0, 1], 'fragments interleaved');
  const args = ['', ''];
  for (const f of deltas.flatMap((d) => d.tool_calls ?? [])) args[f.index] += f.function.arguments;
  assert.deepEqual(
    args,
    FAKE_TOOL_CALLS.map((c) => c.arguments),
  );
  assert.equal(evs.at(-1).choices[0].finish_reason, 'tool_calls');
});

test('include_usage: usage null on every chunk and a final usage chunk', async () => {
  const evs = await events({ model: 'fake-chat', messages, stream_options: { include_usage: true } });
  const last = evs.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.completion_tokens, FAKE_CHAT_TOKENS.length + FAKE_REASONING_TOKENS);
  assert.equal(typeof last.usage.prompt_tokens_details.cached_tokens, 'number');
  for (const e of evs.slice(0, -1)) assert.equal(e.usage, null);
});

test('vLLM extras: logprobs and token ids, streamed and not', async () => {
  const body = { model: 'fake-chat', messages, logprobs: true, top_logprobs: 2, return_token_ids: true };
  const doc = await (await post(body)).json();
  const [choice] = doc.choices;
  assert.equal(doc.prompt_token_ids.length, doc.usage.prompt_tokens);
  assert.equal(choice.token_ids.length, FAKE_CHAT_TOKENS.length);
  assert.deepEqual(
    choice.logprobs.content.map((l: Doc) => l.token),
    FAKE_CHAT_TOKENS,
  );
  assert.equal(choice.logprobs.content[0].top_logprobs.length, 2);

  const evs = await events(body);
  assert.deepEqual(evs[0].prompt_token_ids, doc.prompt_token_ids);
  assert.ok(evs.slice(1).every((e) => !('prompt_token_ids' in e)));
  assert.deepEqual(
    evs.flatMap((e) => e.choices[0].token_ids),
    choice.token_ids,
  );
  assert.deepEqual(
    evs.flatMap((e) => e.choices[0].logprobs?.content ?? []),
    choice.logprobs.content,
  );
});

test('fake-error-<status>: that status with an OpenAI error; 401 echoes the key', async () => {
  for (const status of [429, 500, 401]) {
    const res = await post({ model: `fake-error-${status}`, messages, stream: true });
    assert.equal(res.status, status);
    const { error } = await res.json();
    assert.deepEqual(Object.keys(error), ['message', 'type', 'param', 'code']);
    if (status === 401) assert.match(error.message, /sk-test-secret-123/);
  }
});

test('an unknown model is a 404', async () => {
  const res = await post({ model: 'gpt-nope', messages });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.code, 'model_not_found');
});

test('fake-stall streamed: the first chunk, then silence until the client leaves', async () => {
  const ac = new AbortController();
  const res = await post({ model: 'fake-stall', messages, stream: true }, { signal: ac.signal });
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.match(Buffer.from(first.value!).toString(), /"role":"assistant"/);
  const next = reader.read();
  const quiet = await Promise.race([next.then(() => 'data'), sleep(200).then(() => 'quiet')]);
  assert.equal(quiet, 'quiet');
  ac.abort();
  await assert.rejects(next);
});

test('fake-stall non-streamed: no answer at all', async () => {
  await assert.rejects(post({ model: 'fake-stall', messages }, { signal: AbortSignal.timeout(200) }), {
    name: 'TimeoutError',
  });
});

test('fake-drop: streamed, two chunks then a broken connection; non-streamed, broken at once', async () => {
  const res = await post({ model: 'fake-drop', messages, stream: true });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  let received = '';
  await assert.rejects(async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += Buffer.from(value).toString();
    }
  });
  assert.equal(readSse(received).length, 2);
  await assert.rejects(post({ model: 'fake-drop', messages }));
});

test('fake-slow-<ms> answers like fake-chat after the delay', async () => {
  const start = Date.now();
  const doc = await (await post({ model: 'fake-slow-150', messages })).json();
  assert.ok(Date.now() - start >= 140);
  assert.equal(doc.choices[0].message.content, FAKE_CHAT_CONTENT);
  assert.equal(doc.model, 'fake-slow-150');
});

test('close() returns while requests stall and timers wait', async () => {
  const other = await startFakeLlm();
  const stalled = fetch(`${other.url}/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'fake-stall', messages }),
  }).catch(() => 'closed');
  const slow = fetch(`${other.url}/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'fake-slow-5000', messages }),
  }).catch(() => 'closed');
  while (other.requests.length < 2) await sleep(10);
  const start = Date.now();
  await other.close();
  assert.ok(Date.now() - start < 1000);
  assert.deepEqual(await Promise.all([stalled, slow]), ['closed', 'closed']);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
