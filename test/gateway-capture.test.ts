/**
 * What the gateway injects into upstream requests (usage in streams, vLLM token ids and logprobs)
 * and how it takes it back out of responses and stream chunks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Injected, stripChunk, stripResponse, upstreamRequest } from '../src/gateway/capture.ts';
import type { Capture } from '../src/gateway/routing.ts';

type Obj = Record<string, unknown>;

const NONE: Capture = { returnTokenIds: false, logprobs: false };
const VLLM: Capture = { returnTokenIds: true, logprobs: 5 };
const messages = [{ role: 'user', content: 'Hi' }];

describe('upstreamRequest', () => {
  it('forwards a plain request as sent, under the routed model name, without touching the client’s', () => {
    const client = { model: 'asked', messages, temperature: 0.2, metadata: { user: 'u1' } };
    const before = structuredClone(client);
    const { body, injected } = upstreamRequest(client, 'served', NONE);
    assert.deepEqual(body, { ...client, model: 'served' });
    assert.deepEqual(injected, []);
    assert.deepEqual(client, before, 'the client’s request is not mutated');
  });

  it('asks for usage only on streams that did not, keeping their other stream_options', () => {
    const plain = upstreamRequest({ model: 'm', messages, stream: true }, 'm', NONE);
    assert.deepEqual(plain.body.stream_options, { include_usage: true });
    assert.deepEqual(plain.injected, ['stream_options.include_usage']);

    const client = { model: 'm', messages, stream: true, stream_options: { continuous_usage_stats: true } };
    const other = upstreamRequest(client, 'm', NONE);
    assert.deepEqual(other.body.stream_options, { continuous_usage_stats: true, include_usage: true });
    assert.deepEqual(other.injected, ['stream_options.include_usage']);
    assert.deepEqual(client.stream_options, { continuous_usage_stats: true }, 'client object untouched');

    const asked = upstreamRequest(
      { model: 'm', messages, stream: true, stream_options: { include_usage: true } },
      'm',
      NONE,
    );
    assert.deepEqual(asked.body.stream_options, { include_usage: true });
    assert.deepEqual(asked.injected, []);

    const refused = upstreamRequest(
      { model: 'm', messages, stream: true, stream_options: { include_usage: false } },
      'm',
      NONE,
    );
    assert.deepEqual(refused.body.stream_options, { include_usage: true });
    assert.deepEqual(refused.injected, ['stream_options.include_usage'], 'the record needs usage anyway');

    for (const stream of [false, undefined]) {
      const r = upstreamRequest({ model: 'm', messages, stream }, 'm', NONE);
      assert.equal(r.body.stream_options, undefined, `stream ${stream}: no stream_options`);
      assert.deepEqual(r.injected, []);
    }
  });

  it('asks a vLLM upstream for token ids and logprobs only when configured and not asked by the client', () => {
    const full = upstreamRequest({ model: 'm', messages }, 'm', VLLM);
    assert.equal(full.body.return_token_ids, true);
    assert.equal(full.body.logprobs, true);
    assert.equal(full.body.top_logprobs, 5);
    assert.deepEqual(full.injected, ['return_token_ids', 'logprobs', 'top_logprobs']);

    const onlyIds = upstreamRequest({ model: 'm', messages }, 'm', { returnTokenIds: true, logprobs: false });
    assert.deepEqual(onlyIds.injected, ['return_token_ids']);
    assert.equal(onlyIds.body.logprobs, undefined);

    const noTop = upstreamRequest({ model: 'm', messages }, 'm', { returnTokenIds: false, logprobs: true });
    assert.deepEqual(noTop.injected, ['logprobs']);
    assert.equal(noTop.body.top_logprobs, undefined);

    const clientAsked = upstreamRequest(
      { model: 'm', messages, return_token_ids: true, logprobs: true, top_logprobs: 2 },
      'm',
      VLLM,
    );
    assert.deepEqual(clientAsked.injected, [], 'nothing the client asked for counts as injected');
    assert.equal(clientAsked.body.top_logprobs, 2);

    const clientTop = upstreamRequest({ model: 'm', messages, top_logprobs: 1 }, 'm', VLLM);
    assert.deepEqual(clientTop.injected, ['return_token_ids', 'logprobs']);
    assert.equal(clientTop.body.top_logprobs, 1, 'the client’s top_logprobs is kept');

    const notVllm = upstreamRequest({ model: 'm', messages, stream: true }, 'm', NONE);
    assert.deepEqual(notVllm.injected, ['stream_options.include_usage']);
    assert.equal(notVllm.body.return_token_ids, undefined);
    assert.equal(notVllm.body.logprobs, undefined);
  });

  it('removes metadata.conversation_id (a gateway key), dropping metadata only when nothing else is left', () => {
    const only = upstreamRequest({ model: 'm', messages, metadata: { conversation_id: 'c1' } }, 'm', NONE);
    assert.equal('metadata' in only.body, false, JSON.stringify(only.body));

    const client = { model: 'm', messages, metadata: { conversation_id: 'c1', user: 'u1' } };
    const more = upstreamRequest(client, 'm', NONE);
    assert.deepEqual(more.body.metadata, { user: 'u1' });
    assert.deepEqual(client.metadata, { conversation_id: 'c1', user: 'u1' }, 'client object untouched');

    const other = upstreamRequest({ model: 'm', messages, metadata: { user: 'u1' } }, 'm', NONE);
    assert.deepEqual(other.body.metadata, { user: 'u1' });
    assert.deepEqual(other.injected, []);
  });
});

describe('stripChunk / stripResponse', () => {
  const ALL: Injected[] = ['stream_options.include_usage', 'return_token_ids', 'logprobs', 'top_logprobs'];
  const vllmChunk = () => ({
    id: 'x',
    choices: [{ index: 0, delta: { content: 'a' }, logprobs: { content: [{ token: 'a' }] }, token_ids: [7] }],
    prompt_token_ids: [1, 2],
    usage: null,
  });

  it('drops the injected usage chunk and the `usage: null` of the others', () => {
    assert.equal(
      stripChunk({ id: 'x', choices: [], usage: { total_tokens: 3 } }, ['stream_options.include_usage']),
      false,
    );
    const c: Obj = { id: 'x', choices: [{ index: 0, delta: { content: 'a' } }], usage: null };
    assert.equal(stripChunk(c, ['stream_options.include_usage']), true);
    assert.deepEqual(c, { id: 'x', choices: [{ index: 0, delta: { content: 'a' } }] });
    const last: Obj = { id: 'x', choices: [{ index: 0, delta: {} }], usage: { total_tokens: 3 } };
    assert.equal(stripChunk(last, ['stream_options.include_usage']), true, 'a chunk with choices is kept');
    assert.equal('usage' in last, false);
  });

  it('takes token ids and logprobs out of every choice when they were injected', () => {
    const c = vllmChunk();
    assert.equal(stripChunk(c, ALL), true);
    assert.deepEqual(c, { id: 'x', choices: [{ index: 0, delta: { content: 'a' }, logprobs: null }] });

    const noLogprobsKey: Obj = { choices: [{ index: 0, delta: {} }] };
    stripChunk(noLogprobsKey, ['logprobs']);
    assert.deepEqual(noLogprobsKey, { choices: [{ index: 0, delta: {} }] }, 'no logprobs key is added');
  });

  it('strips nothing that was not injected', () => {
    const c = vllmChunk();
    assert.equal(stripChunk(c, []), true);
    assert.deepEqual(c, vllmChunk());
    const usageChunk = { id: 'x', choices: [], usage: { total_tokens: 3 } };
    assert.equal(stripChunk(usageChunk, []), true, 'the client asked for the usage chunk');
    assert.deepEqual(usageChunk, { id: 'x', choices: [], usage: { total_tokens: 3 } });

    const idsOnly = vllmChunk();
    stripChunk(idsOnly, ['return_token_ids']);
    assert.deepEqual(idsOnly.choices[0]?.logprobs, { content: [{ token: 'a' }] }, 'logprobs kept');
    assert.equal('prompt_token_ids' in idsOnly, false);
    assert.equal('token_ids' in (idsOnly.choices[0] ?? {}), false);
    assert.equal(idsOnly.usage, null, 'usage: null kept when include_usage was not injected');

    const lpsOnly = vllmChunk();
    stripChunk(lpsOnly, ['logprobs']);
    assert.deepEqual(lpsOnly.prompt_token_ids, [1, 2], 'token ids kept');
    assert.deepEqual(lpsOnly.choices[0]?.token_ids, [7]);
    assert.equal(lpsOnly.choices[0]?.logprobs, null);
  });

  it('strips a whole response document the same way, keeping its usage', () => {
    const doc = {
      id: 'x',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'a' }, logprobs: { content: [] }, token_ids: [7] },
        { index: 1, message: { role: 'assistant', content: 'b' }, logprobs: { content: [] }, token_ids: [8] },
      ],
      prompt_token_ids: [1],
      usage: { total_tokens: 3 },
    };
    stripResponse(doc, ALL);
    assert.deepEqual(doc, {
      id: 'x',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'a' }, logprobs: null },
        { index: 1, message: { role: 'assistant', content: 'b' }, logprobs: null },
      ],
      usage: { total_tokens: 3 },
    });
    const untouched = {
      id: 'x',
      choices: [{ index: 0, logprobs: { content: [] }, token_ids: [7] }],
      prompt_token_ids: [1],
    };
    stripResponse(untouched, ['stream_options.include_usage']);
    assert.deepEqual(untouched, {
      id: 'x',
      choices: [{ index: 0, logprobs: { content: [] }, token_ids: [7] }],
      prompt_token_ids: [1],
    });
  });
});
