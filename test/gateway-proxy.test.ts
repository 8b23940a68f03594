/**
 * The gateway against a real fake upstream over HTTP: what the client receives equals what
 * the upstream sent (minus fields the gateway injected), and every call is recorded exactly
 * once with its reassembled response, usage, token data and how it ended.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FAKE_CHAT_CONTENT, FAKE_TOOL_CALLS, FAKE_TOOLS_CONTENT, readSse } from './fixtures/fake-llm.ts';
import { dbModes } from './helpers/db.ts';
import {
  claimTask,
  direct,
  type GatewayHarness,
  OPENAI_KEY,
  recorded,
  startHarness,
  VLLM_KEY,
  viaGateway,
  waitForCalls,
} from './helpers/gateway.ts';

const user = (content: string) => ({ role: 'user', content });

for (const mode of dbModes()) {
  describe(`gateway relay and record (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

    it('hands out the gateway address and a task token with the claim', async () => {
      const c = await claimTask(h.t);
      assert.equal(c.baseUrl, `${h.t.url}/llm/v1`);
      assert.match(c.token, /^te1\./);
    });

    it('relays a non-streamed answer byte for byte and records it once', async () => {
      const c = await claimTask(h.t);
      const body = { model: 'fake-chat', messages: [{ role: 'system', content: 'Be brief.' }, user('Hi')] };
      const [viaGw, straight] = [await viaGateway(c, body), await direct(h.fake, body)];
      assert.equal(viaGw.status, 200);
      assert.equal(viaGw.text, straight.text);
      assert.equal(h.fake.requests.at(-2)!.headers.authorization, `Bearer ${OPENAI_KEY}`);

      // Recording follows the answer: wait for it, then read everything back.
      await waitForCalls(h.t, c.task.id, 1);
      const { conversations, calls } = await recorded(h.t, c.task.id);
      assert.equal(conversations.length, 1);
      assert.equal(conversations[0].message_count, 3);
      assert.equal(conversations[0].call_count, 1);
      assert.equal(calls.length, 1);
      const call = calls[0];
      assert.equal(call.end_reason, 'done');
      assert.equal(call.status, 200);
      assert.equal(call.upstream, 'openai');
      assert.equal(call.stream, false);
      assert.equal(call.prefix_consistent, true);
      assert.deepEqual(call.response, JSON.parse(straight.text));
      assert.equal(call.prompt_tokens, JSON.parse(straight.text).usage.prompt_tokens);
      assert.ok(call.cached_tokens !== null && call.reasoning_tokens !== null);
      assert.equal(call.request.messages, undefined, 'messages live in llm_messages, not the call');
      assert.ok(call.latency_ms > 0);
    });

    it('relays a stream untouched when nothing was injected, and reassembles it', async () => {
      const c = await claimTask(h.t);
      const body = {
        model: 'fake-tools',
        stream: true,
        stream_options: { include_usage: true },
        messages: [user('Weather and time in Paris?')],
      };
      const viaGw = await viaGateway(c, body);
      const straight = await direct(h.fake, body);
      assert.equal(viaGw.text, straight.text);
      assert.match(viaGw.headers.get('content-type') ?? '', /text\/event-stream/);

      const [call] = await waitForCalls(h.t, c.task.id, 1);
      assert.deepEqual(call.injected, []);
      const message = call.response.choices[0].message;
      assert.equal(message.content, FAKE_TOOLS_CONTENT);
      assert.deepEqual(
        message.tool_calls.map((t: { id: string; function: { name: string; arguments: string } }) => [
          t.id,
          t.function.name,
          t.function.arguments,
        ]),
        FAKE_TOOL_CALLS.map((t) => [t.id, t.name, t.arguments]),
      );
      assert.deepEqual(call.finish_reasons, ['tool_calls']);
      assert.ok(call.ttft_ms !== null && call.ttft_ms <= call.latency_ms);
      assert.ok(call.usage, 'the usage chunk is kept');

      const { conversations } = await recorded(h.t, c.task.id);
      const { messages } = await (
        await fetch(`${h.t.url}/api/v1/llm-conversations/${conversations[0].id}`)
      ).json();
      assert.equal(messages.length, 2);
      assert.equal(messages[1].role, 'assistant');
      assert.equal(messages[1].tool_calls.length, 2);
    });

    it('asks for usage on streams that did not and removes it from what the client sees', async () => {
      const c = await claimTask(h.t);
      const body = { model: 'fake-chat', stream: true, messages: [user('Hi')] };
      const viaGw = await viaGateway(c, body);
      const straight = await direct(h.fake, body);
      assert.equal(
        viaGw.text,
        straight.text,
        'same bytes as the upstream answers a request without include_usage',
      );
      assert.equal(h.fake.requests.at(-2)!.body.stream_options.include_usage, true);
      const [call] = await waitForCalls(h.t, c.task.id, 1);
      assert.deepEqual(call.injected, ['stream_options.include_usage']);
      assert.ok(call.completion_tokens > 0);
      assert.equal(call.response.choices[0].message.content, FAKE_CHAT_CONTENT);
    });

    it('captures vLLM token ids and logprobs and strips them from the agent’s response', async () => {
      const c = await claimTask(h.t);
      const plain = await viaGateway(c, { model: 'vllm-chat', messages: [user('Hi')] });
      const sent = h.fake.requests.at(-1)!;
      assert.equal(sent.headers.authorization, `Bearer ${VLLM_KEY}`);
      assert.equal(sent.body.model, 'fake-chat');
      assert.equal(sent.body.return_token_ids, true);
      assert.equal(sent.body.logprobs, true);
      const straight = await direct(h.fake, { model: 'fake-chat', messages: [user('Hi')] });
      assert.deepEqual(JSON.parse(plain.text), JSON.parse(straight.text));

      const streamed = await viaGateway(c, { model: 'vllm-tools', stream: true, messages: [user('Hi')] });
      const straightStream = await direct(h.fake, {
        model: 'fake-tools',
        stream: true,
        messages: [user('Hi')],
      });
      assert.deepEqual(readSse(streamed.text), readSse(straightStream.text));

      const calls = await waitForCalls(h.t, c.task.id, 2);
      for (const call of calls) {
        assert.equal(call.has_token_ids, true);
        assert.equal(call.has_logprobs, true);
        assert.ok(Array.isArray(call.response.prompt_token_ids));
        assert.ok(call.response.choices[0].token_ids.length > 0);
        assert.ok(call.response.choices[0].logprobs.content.length > 0);
      }
      assert.deepEqual(calls[0].injected, ['return_token_ids', 'logprobs']);
      assert.deepEqual(calls[1].injected, ['stream_options.include_usage', 'return_token_ids', 'logprobs']);
    });

    it('passes upstream errors on with their status, records them, and never shows a key', async () => {
      const c = await claimTask(h.t);
      const limited = await viaGateway(c, { model: 'fake-error-429', messages: [user('Hi')] });
      assert.equal(limited.status, 429);
      assert.ok(JSON.parse(limited.text).error.message);
      const denied = await viaGateway(c, { model: 'fake-error-401', messages: [user('Hi')] });
      assert.equal(denied.status, 401);
      assert.ok(!denied.text.includes(OPENAI_KEY), denied.text);
      assert.match(denied.text, /\[redacted\]/);

      const calls = await waitForCalls(h.t, c.task.id, 2);
      assert.deepEqual(
        calls.map((x) => [x.status, x.end_reason]),
        [
          [429, 'upstream_error'],
          [401, 'upstream_error'],
        ],
      );
      assert.ok(calls.every((x) => !JSON.stringify(x).includes(OPENAI_KEY)));
    });

    it('ends a stalled stream on the idle timeout, telling the client and keeping the partial output', async () => {
      const c = await claimTask(h.t);
      const res = await viaGateway(c, { model: 'fake-stall', stream: true, messages: [user('Hi')] });
      assert.equal(res.status, 200);
      const events = readSse(res.text) as { error?: { type: string } }[];
      assert.equal(events.at(-1)?.error?.type, 'timeout');
      const [call] = await waitForCalls(h.t, c.task.id, 1);
      assert.equal(call.end_reason, 'timeout');
      assert.equal(call.response.choices[0].message.role, 'assistant');
    });

    it('records a stream the upstream dropped as an upstream error with what arrived', async () => {
      const c = await claimTask(h.t);
      const res = await viaGateway(c, { model: 'fake-drop', stream: true, messages: [user('Hi')] });
      const events = readSse(res.text) as { error?: unknown }[];
      assert.ok(events.at(-1)?.error, 'the client is told the stream failed');
      const [call] = await waitForCalls(h.t, c.task.id, 1);
      assert.equal(call.end_reason, 'upstream_error');
      assert.ok(call.response.choices.length > 0);
    });

    it('answers 504 when a non-streamed upstream never answers, and records the timeout', async () => {
      const c = await claimTask(h.t);
      const res = await viaGateway(c, { model: 'fake-stall', messages: [user('Hi')] });
      assert.equal(res.status, 504);
      assert.equal(JSON.parse(res.text).error.code, 'upstream_timeout');
      const [call] = await waitForCalls(h.t, c.task.id, 1);
      assert.equal(call.end_reason, 'timeout');
      assert.equal(call.response, null);
    });

    it('records a call whose client went away mid-stream as client_cancelled', async () => {
      const c = await claimTask(h.t);
      const ac = new AbortController();
      const res = await fetch(`${c.baseUrl}/chat/completions`, {
        method: 'POST',
        signal: ac.signal,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` },
        body: JSON.stringify({ model: 'fake-stall', stream: true, messages: [user('Hi')] }),
      });
      const reader = res.body!.getReader();
      await reader.read(); // the first chunk arrived: the stream is live
      ac.abort();
      const [call] = await waitForCalls(h.t, c.task.id, 1);
      assert.equal(call.end_reason, 'client_cancelled');
      assert.equal((await recorded(h.t, c.task.id)).calls.length, 1, 'recorded exactly once');
    });

    it('answers 502 when the upstream cannot be reached, and records it', async () => {
      await h.fake.close();
      const c = await claimTask(h.t);
      const res = await viaGateway(c, { model: 'fake-chat', messages: [user('Hi')] });
      assert.equal(res.status, 502);
      assert.equal(JSON.parse(res.text).error.code, 'upstream_unreachable');
      const [call] = await waitForCalls(h.t, c.task.id, 1);
      assert.equal(call.end_reason, 'upstream_error');
    });
  });
}
