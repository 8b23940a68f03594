/**
 * The gateway as stock clients see it: the official OpenAI SDK (calls, streams, typed errors,
 * models.list) unchanged against BASE/llm/v1, and upstream keys (and task tokens) kept out of
 * every log line, response and record.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import pino from 'pino';
import { FAKE_TOOL_CALLS, FAKE_TOOLS_CONTENT } from './fixtures/fake-llm.ts';
import type { Body } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import {
  type Claimed,
  claimTask,
  type GatewayHarness,
  recorded,
  startHarness,
  user,
  viaGateway,
  waitForCalls,
  waitForTaskCalls,
} from './helpers/gateway.ts';

for (const mode of dbModes()) {
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
      const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
      const s = await startHarness(mode, { OPENAI_API_KEY: KEY }, { logger });
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
