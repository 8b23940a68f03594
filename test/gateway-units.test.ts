/**
 * The gateway's pure parts, without a database or a server: stream reassembly, what is injected
 * into upstream requests and stripped from responses, message identity and prefix hashes, model
 * routing, prices, task tokens, and validation of the gateway's JSON settings.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { type Config, ConfigError, loadConfig } from '../src/config/index.ts';
import { StreamAssembler } from '../src/gateway/assemble.ts';
import { type Injected, stripChunk, stripResponse, upstreamRequest } from '../src/gateway/capture.ts';
import { BadMessage, identity, PrefixHasher, toStoredMessage } from '../src/gateway/messages.ts';
import { createPriceBook } from '../src/gateway/prices.ts';
import {
  type Capture,
  createRouter,
  ModelNotRouted,
  openRouterName,
  type Router,
} from '../src/gateway/routing.ts';
import { createScriptedUpstream } from '../src/gateway/scripted.ts';
import { createTokenIssuer } from '../src/gateway/tokens.ts';

// biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary response JSON.
type Doc = any;
type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// StreamAssembler

/** A chunk of choice 0 (or `index`) carrying `delta`. */
const chunk = (delta: Obj, extra: Obj = {}, index = 0): Obj => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'm',
  choices: [{ index, delta, finish_reason: null, ...extra }],
});

describe('StreamAssembler', () => {
  it('rebuilds content, reasoning and tool calls by index, interleaved, arguments in fragments', () => {
    const a = new StreamAssembler();
    const chunks = [
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'Think' }),
      chunk({ reasoning_content: 'ing.' }),
      chunk({ content: 'Let me ' }),
      // Tool call 1 opens before tool call 0, content keeps flowing between fragments.
      chunk({
        tool_calls: [
          { index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } },
        ],
      }),
      chunk({
        tool_calls: [
          { index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"ci' } },
        ],
      }),
      chunk({ content: 'check.' }),
      // Later fragments carry no id, type or name: only the index ties them to their call.
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{"tz":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '"UTC"}' } }] }),
      chunk({}, { finish_reason: 'tool_calls' }),
    ];
    for (const c of chunks) a.push(c);
    const doc = a.result() as Doc;
    assert.equal(a.chunks, chunks.length);
    assert.equal(doc.object, 'chat.completion');
    assert.equal(doc.id, 'chatcmpl-1');
    assert.equal(doc.model, 'm');
    assert.equal(doc.created, 1_700_000_000);
    assert.deepEqual(doc.choices, [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'Let me check.',
          reasoning_content: 'Thinking.',
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } },
          ],
        },
        finish_reason: 'tool_calls',
      },
    ]);
  });

  it('takes `reasoning` (OpenRouter) as reasoning text too', () => {
    const a = new StreamAssembler();
    a.push(chunk({ reasoning: 'a' }));
    a.push(chunk({ reasoning: 'b' }));
    assert.equal((a.result() as Doc).choices[0].message.reasoning_content, 'ab');
  });

  it('keeps choices apart by index and orders them', () => {
    const a = new StreamAssembler();
    a.push(chunk({ role: 'assistant', content: '' }, {}, 1));
    a.push(chunk({ role: 'assistant', content: '' }, {}, 0));
    a.push(chunk({ content: 'B1' }, {}, 1));
    a.push(chunk({ content: 'A1' }, {}, 0));
    a.push(chunk({ content: 'A2' }, {}, 0));
    a.push(chunk({ content: 'B2' }, { finish_reason: 'length' }, 1));
    a.push(chunk({}, { finish_reason: 'stop' }, 0));
    const doc = a.result() as Doc;
    assert.deepEqual(
      doc.choices.map((c: Doc) => [c.index, c.message.content, c.finish_reason]),
      [
        [0, 'A1A2', 'stop'],
        [1, 'B1B2', 'length'],
      ],
    );
  });

  it('concatenates logprobs content and vLLM token ids, and keeps prompt_token_ids', () => {
    const a = new StreamAssembler();
    a.push({ ...chunk({ role: 'assistant', content: '' }, { token_ids: [] }), prompt_token_ids: [1, 2, 3] });
    a.push(
      chunk({ content: 'He' }, { logprobs: { content: [{ token: 'He', logprob: -0.1 }] }, token_ids: [10] }),
    );
    a.push(
      chunk(
        { content: 'llo!' },
        {
          logprobs: {
            content: [
              { token: 'llo', logprob: -0.2 },
              { token: '!', logprob: -0.3 },
            ],
          },
          token_ids: [11, 12],
        },
      ),
    );
    a.push(chunk({}, { finish_reason: 'stop', logprobs: null, token_ids: [] }));
    const doc = a.result() as Doc;
    assert.deepEqual(doc.prompt_token_ids, [1, 2, 3]);
    const choice = doc.choices[0];
    assert.equal(choice.message.content, 'Hello!');
    assert.deepEqual(choice.token_ids, [10, 11, 12]);
    assert.deepEqual(
      choice.logprobs.content.map((l: Doc) => l.token),
      ['He', 'llo', '!'],
    );
  });

  it('leaves logprobs and token ids out when none came', () => {
    const a = new StreamAssembler();
    a.push(chunk({ content: 'x' }, { logprobs: null }));
    const choice = (a.result() as Doc).choices[0];
    assert.equal('logprobs' in choice, false, JSON.stringify(choice));
    assert.equal('token_ids' in choice, false, JSON.stringify(choice));
    assert.equal('prompt_token_ids' in (a.result() as Doc), false);
  });

  it('keeps the usage chunk (empty choices) as the document’s usage', () => {
    const a = new StreamAssembler();
    const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
    a.push({ ...chunk({ content: 'hi' }), usage: null });
    a.push({ ...chunk({}, { finish_reason: 'stop' }), usage: null });
    a.push({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [], usage });
    const doc = a.result() as Doc;
    assert.deepEqual(doc.usage, usage);
    assert.equal(doc.choices.length, 1, 'the usage chunk adds no choice');
  });

  it('gives the partial reply of a stream that never finished', () => {
    const a = new StreamAssembler();
    a.push(chunk({ role: 'assistant', content: '' }));
    a.push(chunk({ content: 'Half a sen' }));
    a.push(
      chunk({
        tool_calls: [{ index: 0, id: 'call_x', type: 'function', function: { name: 'f', arguments: '{"a' } }],
      }),
    );
    const doc = a.result() as Doc;
    assert.deepEqual(doc.choices[0], {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Half a sen',
        tool_calls: [{ id: 'call_x', type: 'function', function: { name: 'f', arguments: '{"a' } }],
      },
      finish_reason: null,
    });
    assert.equal(doc.usage, undefined);
  });

  it('says which chunks carried model output (for time to first token)', () => {
    const a = new StreamAssembler();
    const cases: [string, unknown, boolean][] = [
      ['not an object', 'data', false],
      ['role chunk with empty content', chunk({ role: 'assistant', content: '' }), false],
      ['empty delta', chunk({}), false],
      ['content', chunk({ content: 'x' }), true],
      ['reasoning', chunk({ reasoning_content: 'hmm' }), true],
      [
        'tool call header',
        chunk({ tool_calls: [{ index: 0, id: 'c', function: { name: 'f', arguments: '' } }] }),
        true,
      ],
      ['empty tool_calls list', chunk({ tool_calls: [] }), false],
      ['finish chunk', chunk({}, { finish_reason: 'stop' }), false],
      ['usage chunk', { choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } }, false],
      ['no choices', { id: 'x' }, false],
      [
        'output in the second choice only',
        {
          choices: [
            { index: 0, delta: {} },
            { index: 1, delta: { content: 'y' } },
          ],
        },
        true,
      ],
    ];
    assert.deepEqual(
      cases.map(([name, c]) => [name, a.push(c)]),
      cases.map(([name, , want]) => [name, want]),
    );
  });

  it('counts a refusal as model output', () => {
    const a = new StreamAssembler();
    assert.equal(a.push(chunk({ refusal: 'I can’t help with that.' })), true);
  });
});

// ---------------------------------------------------------------------------------------------
// capture.ts

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

// ---------------------------------------------------------------------------------------------
// messages.ts

const id = (m: unknown) => identity(toStoredMessage(m, 0));

describe('message identity and prefix hashes', () => {
  const call = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } };

  it('gives the same identity whatever the key order', () => {
    assert.equal(
      id({ role: 'tool', content: 'out', tool_call_id: 'call_1', name: 'f' }),
      id({ name: 'f', tool_call_id: 'call_1', content: 'out', role: 'tool' }),
    );
  });

  it('treats tool_calls [] and absent alike, and null content like absent content', () => {
    assert.equal(
      id({ role: 'assistant', content: 'x', tool_calls: [] }),
      id({ role: 'assistant', content: 'x' }),
    );
    assert.equal(
      id({ role: 'assistant', content: 'x', tool_calls: null }),
      id({ role: 'assistant', content: 'x' }),
    );
    assert.equal(
      id({ role: 'assistant', content: null, tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [call] }),
    );
  });

  it('reduces tool calls to id, type, name and arguments (SDKs reorder keys and add index)', () => {
    const rebuilt = {
      index: 0,
      function: { arguments: '{"a":1}', name: 'f' },
      type: 'function',
      id: 'call_1',
    };
    assert.equal(
      id({ role: 'assistant', tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [rebuilt] }),
    );
    const noType = { id: 'call_1', function: { name: 'f', arguments: '{"a":1}' } };
    assert.equal(
      id({ role: 'assistant', tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [noType] }),
    );
    const otherArgs = { ...call, function: { name: 'f', arguments: '{"a":2}' } };
    assert.notEqual(
      id({ role: 'assistant', tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [otherArgs] }),
    );
    const otherId = { ...call, id: 'call_2' };
    assert.notEqual(
      id({ role: 'assistant', tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [otherId] }),
    );
  });

  it('tells different messages apart', () => {
    const base = { role: 'user', content: 'hello' };
    const variants = [
      { role: 'user', content: 'hello!' },
      { role: 'system', content: 'hello' },
      { role: 'user', content: 'hello', name: 'bob' },
      { role: 'user', content: [{ type: 'text', text: 'hello' }] },
      { role: 'tool', content: 'hello', tool_call_id: 'c' },
    ];
    for (const v of variants) assert.notEqual(id(v), id(base), JSON.stringify(v));
  });

  it('keeps keys outside the identity as metadata, without changing the identity', () => {
    const m = toStoredMessage(
      { role: 'assistant', content: 'x', refusal: null, cache_control: { type: 'ephemeral' } },
      0,
    );
    assert.deepEqual(m.metadata, { extra: { refusal: null, cache_control: { type: 'ephemeral' } } });
    assert.equal(identity(m), id({ role: 'assistant', content: 'x' }));
    assert.deepEqual(toStoredMessage({ role: 'user', content: 'x' }, 0).metadata, {});
  });

  it('refuses a message that is not an object or has no role', () => {
    for (const bad of [null, 'hi', [], { content: 'x' }, { role: '' }, { role: 3 }])
      assert.throws(() => toStoredMessage(bad, 4), BadMessage, JSON.stringify(bad));
    assert.throws(() => toStoredMessage({ content: 'x' }, 4), /messages\[4\]\.role/);
  });

  it('chains hashes over the prefix: order matters, and reading one does not disturb the next', () => {
    const a = toStoredMessage({ role: 'user', content: 'a' }, 0);
    const b = toStoredMessage({ role: 'assistant', content: 'b' }, 1);
    const hashOf = (ms: (typeof a)[], peek = false) => {
      const h = new PrefixHasher();
      for (const m of ms) {
        h.push(m);
        if (peek) h.current();
      }
      return h.current();
    };
    assert.notEqual(hashOf([a, b]), hashOf([b, a]), 'order is part of the hash');
    assert.notEqual(hashOf([a, b]), hashOf([a]), 'a prefix hashes differently from the whole');
    assert.equal(hashOf([a, b], true), hashOf([a, b]), 'current() leaves the running hash as it was');

    const h = new PrefixHasher();
    assert.equal(h.depth, 0);
    h.push(a);
    const afterA = h.current();
    assert.equal(h.current(), afterA, 'current() can be read twice');
    h.push(b);
    assert.equal(h.depth, 2);
    assert.equal(afterA, hashOf([a]), 'the hash after message 1 is message 1’s prefix hash');
    assert.equal(h.current(), hashOf([a, b]));
    // Messages are framed: two messages never hash like one with both texts.
    const ab = toStoredMessage({ role: 'user', content: 'ab' }, 0);
    const aThenB = [
      toStoredMessage({ role: 'user', content: 'a' }, 0),
      toStoredMessage({ role: 'user', content: 'b' }, 1),
    ];
    assert.notEqual(hashOf([ab]), hashOf(aThenB));
  });
});

// ---------------------------------------------------------------------------------------------
// routing.ts

const scripted = createScriptedUpstream();

function router(env: Record<string, string>, processEnv: Record<string, string | undefined> = {}): Router {
  return createRouter(loadConfig(env), scripted, processEnv);
}

/** Runs `fn` with a router and closes the router afterwards, whatever happens. */
function withRouter(env: Record<string, string>, fn: (r: Router) => void, processEnv = {}): void {
  const r = router(env, processEnv);
  try {
    fn(r);
  } finally {
    r.close();
  }
}

const resolved = (r: Router, model: string) => {
  const route = r.resolve(model);
  return { upstream: route.upstream.name, model: route.model };
};

describe('createRouter', () => {
  const VLLM_UPSTREAM = JSON.stringify({
    vllm: {
      base_url: 'http://127.0.0.1:1/v1',
      kind: 'vllm',
      api_key: 'vllm-key-123456',
      models: ['Qwen/*', 'exact-model'],
      return_token_ids: true,
      logprobs: 3,
      timeout_seconds: 30,
    },
  });

  it('sends scripted:* to the built-in upstream, before any route', () => {
    withRouter(
      { LLM_MODEL_ROUTES: JSON.stringify({ '*': 'openai' }), OPENAI_API_KEY: 'sk-openai-123456' },
      (r) => {
        const route = r.resolve('scripted:echo');
        assert.equal(route.upstream, scripted);
        assert.equal(route.model, 'scripted:echo');
        assert.deepEqual(route.capture, { returnTokenIds: false, logprobs: false });
      },
    );
  });

  it('tries LLM_MODEL_ROUTES first (with renames), then LLM_UPSTREAMS models, then the defaults', () => {
    const env = {
      OPENAI_API_KEY: 'sk-openai-123456',
      OPENROUTER_API_KEY: 'sk-or-123456',
      LLM_UPSTREAMS: VLLM_UPSTREAM,
      LLM_MODEL_ROUTES: JSON.stringify({
        'gpt-4o': { upstream: 'vllm', model: 'served-name' },
        'Qwen/special': 'openai',
        'team-*': 'openrouter',
        'dry-run': { upstream: 'scripted', model: 'scripted:echo' },
      }),
    };
    withRouter(env, (r) => {
      assert.deepEqual(resolved(r, 'gpt-4o'), { upstream: 'vllm', model: 'served-name' });
      assert.deepEqual(
        resolved(r, 'Qwen/special'),
        { upstream: 'openai', model: 'Qwen/special' },
        'route beats models',
      );
      assert.deepEqual(resolved(r, 'team-model'), { upstream: 'openrouter', model: 'team-model' });
      assert.equal(r.resolve('dry-run').upstream, scripted);
      assert.equal(r.resolve('dry-run').model, 'scripted:echo');
      assert.deepEqual(resolved(r, 'Qwen/Qwen3-8B'), { upstream: 'vllm', model: 'Qwen/Qwen3-8B' });
      assert.deepEqual(resolved(r, 'exact-model'), { upstream: 'vllm', model: 'exact-model' });
      assert.deepEqual(resolved(r, 'anthropic/claude-sonnet-4'), {
        upstream: 'openrouter',
        model: 'anthropic/claude-sonnet-4',
      });
      assert.deepEqual(resolved(r, 'gpt-4.1'), { upstream: 'openai', model: 'gpt-4.1' });

      const vllm = r.resolve('Qwen/Qwen3-8B');
      assert.deepEqual(vllm.capture, { returnTokenIds: true, logprobs: 3 });
      assert.equal(vllm.timeoutMs, 30_000);
      const openai = r.resolve('gpt-4.1');
      assert.deepEqual(openai.capture, { returnTokenIds: false, logprobs: false });
      assert.equal(openai.timeoutMs, null);
    });
  });

  it('captures nothing from an upstream that is not vLLM, whatever its flags', () => {
    const upstreams = JSON.stringify({
      other: { base_url: 'http://127.0.0.1:1/v1', models: ['m'], return_token_ids: true, logprobs: true },
    });
    withRouter({ LLM_UPSTREAMS: upstreams }, (r) => {
      assert.deepEqual(r.resolve('m').capture, { returnTokenIds: false, logprobs: false });
    });
  });

  it('falls back to OpenRouter for bare names without an OpenAI key, under provider/model names', () => {
    withRouter({ OPENROUTER_API_KEY: 'sk-or-123456' }, (r) => {
      assert.deepEqual(resolved(r, 'gpt-4o'), { upstream: 'openrouter', model: 'openai/gpt-4o' });
      assert.deepEqual(resolved(r, 'claude-3-5-sonnet'), {
        upstream: 'openrouter',
        model: 'anthropic/claude-3-5-sonnet',
      });
      assert.deepEqual(resolved(r, 'mystery'), { upstream: 'openrouter', model: 'mystery' });
    });
    assert.equal(openRouterName('o3-mini'), 'openai/o3-mini');
    assert.equal(openRouterName('gemini-2.5-pro'), 'google/gemini-2.5-pro');
    assert.equal(openRouterName('Qwen3-8B'), 'qwen/Qwen3-8B');
    assert.equal(openRouterName('meta-llama/llama-3'), 'meta-llama/llama-3', 'a provider/model name is kept');
  });

  it('refuses unroutable models naming the variable to set', () => {
    withRouter({}, (r) => {
      assert.throws(
        () => r.resolve('gpt-4o'),
        (e: unknown) => {
          assert.ok(e instanceof ModelNotRouted, String(e));
          assert.match(e.message, /OPENAI_API_KEY/);
          assert.match(e.message, /"gpt-4o"/);
          return true;
        },
      );
      assert.throws(
        () => r.resolve('anthropic/claude'),
        (e: unknown) => {
          assert.ok(e instanceof ModelNotRouted, String(e));
          assert.match(e.message, /OPENROUTER_API_KEY/);
          return true;
        },
      );
    });
    withRouter({ OPENAI_API_KEY: 'sk-openai-123456' }, (r) => {
      assert.throws(() => r.resolve('anthropic/claude'), /set OPENROUTER_API_KEY for provider\/model names/);
    });
  });

  it('refuses at creation a route to an upstream that is not configured', () => {
    assert.throws(
      () => router({ LLM_MODEL_ROUTES: JSON.stringify({ 'm-*': 'openrouter' }) }),
      /LLM_MODEL_ROUTES: "m-\*" goes to upstream "openrouter".*set OPENROUTER_API_KEY/,
    );
    assert.throws(
      () => router({ LLM_MODEL_ROUTES: JSON.stringify({ m: { upstream: 'nowhere' } }) }),
      /"nowhere", which is not configured \(add it to LLM_UPSTREAMS\)/,
    );
    assert.throws(
      () => router({ LLM_UPSTREAMS: JSON.stringify({ openai: { base_url: 'http://127.0.0.1:1' } }) }),
      /"openai" is a built-in upstream name/,
    );
  });

  it('reads api_key_env from the environment it is given, and refuses a missing one', async () => {
    const upstreams = JSON.stringify({
      local: { base_url: 'http://127.0.0.1:1/v1', api_key_env: 'LOCAL_LLM_KEY', models: ['local-*'] },
    });
    assert.throws(
      () => router({ LLM_UPSTREAMS: upstreams }, {}),
      /upstream "local" reads its key from LOCAL_LLM_KEY, which is not set/,
    );
    assert.throws(() => router({ LLM_UPSTREAMS: upstreams }, { LOCAL_LLM_KEY: '' }), /LOCAL_LLM_KEY/);

    // The key is what the upstream sends: check it on the wire.
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const live = JSON.stringify({
      local: { base_url: `http://127.0.0.1:${port}/v1`, api_key_env: 'LOCAL_LLM_KEY', models: ['local-*'] },
    });
    const r = router({ LLM_UPSTREAMS: live }, { LOCAL_LLM_KEY: 'local-secret-key-42' });
    try {
      assert.ok(r.secrets().includes('local-secret-key-42'), `secrets: ${JSON.stringify(r.secrets())}`);
      const reply = await r
        .resolve('local-7b')
        .upstream.send({ model: 'local-7b', messages }, new AbortController().signal);
      for await (const _ of reply.body) {
        // drain
      }
      assert.equal(reply.status, 200);
      assert.equal(seen[0]?.authorization, 'Bearer local-secret-key-42');
    } finally {
      r.close();
      server.close();
    }
  });

  it('lists every key the upstreams use (long enough to scrub), and the exact model names', () => {
    const env = {
      OPENAI_API_KEY: 'sk-openai-123456',
      OPENROUTER_API_KEY: 'sk-or-abcdef',
      LLM_UPSTREAMS: JSON.stringify({
        a: { base_url: 'http://127.0.0.1:1', api_key: 'inline-key-1', models: ['a-exact', 'a-*'] },
        b: { base_url: 'http://127.0.0.1:1', api_key_env: 'B_KEY' },
        c: { base_url: 'http://127.0.0.1:1', api_key: 'short' },
        d: { base_url: 'http://127.0.0.1:1' },
      }),
      LLM_MODEL_ROUTES: JSON.stringify({ 'route-exact': 'a', 'route-*': 'b', 'a-exact': 'b' }),
    };
    withRouter(
      env,
      (r) => {
        assert.deepEqual(
          [...r.secrets()].sort(),
          ['env-key-b-123', 'inline-key-1', 'sk-openai-123456', 'sk-or-abcdef'].sort(),
        );
        const listed = r.listed();
        assert.deepEqual(
          listed.filter((m) => m.owned_by !== 'scripted'),
          [
            { id: 'route-exact', owned_by: 'a' },
            { id: 'a-exact', owned_by: 'b' },
          ],
          'exact names only, routes first, each once',
        );
      },
      { B_KEY: 'env-key-b-123' },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// prices.ts

const close = (actual: number | null, expected: number, what: string) => {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `${what}: ${actual} ≈ ${expected}`);
};
const M = 1_000_000;

describe('price book', () => {
  const price = createPriceBook({
    'my-*': { input: 1, output: 2 },
    'gpt-4o': { input: 3, output: 6, cached_input: 1 },
    'no-cache-price': { input: 4, output: 8 },
  });

  it('believes a reported cost first', () => {
    assert.equal(price(['unknown-model'], { prompt: 10, completion: 5, cached: null }, 0.0123), 0.0123);
    assert.equal(price(['gpt-4o'], { prompt: M, completion: M, cached: 0 }, 0), 0, 'a reported 0 is 0');
    close(price(['gpt-4o'], { prompt: M, completion: 0, cached: 0 }, Number.NaN), 3, 'NaN reported: table');
    close(price(['gpt-4o'], { prompt: M, completion: 0, cached: 0 }, '0.5'), 3, 'a string is not a cost');
  });

  it('finds exact, glob, provider-prefixed and dated names; overrides win over built-ins', () => {
    const t = { prompt: M, completion: M, cached: 0 };
    close(price(['gpt-4o'], t, undefined), 9, 'override of a built-in');
    close(price(['gpt-4.1-mini'], t, undefined), 2, 'built-in');
    close(price(['my-model'], t, undefined), 3, 'glob');
    close(price(['openai/gpt-4.1-mini'], t, undefined), 2, 'provider prefix');
    close(price(['gpt-4.1-mini-2025-04-14'], t, undefined), 2, 'dated');
    close(price(['openai/gpt-4.1-mini-2025-04-14'], t, undefined), 2, 'prefixed and dated');
    close(
      price(['unknown-alias', 'gpt-4.1-mini'], t, undefined),
      2,
      'the answering model when the asked one is unknown',
    );
    close(price([null, 'gpt-4.1-mini'], t, undefined), 2, 'a missing name is skipped');
  });

  it('prices cached prompt tokens at cached_input (input when none), never more than the prompt', () => {
    close(
      price(['gpt-4o'], { prompt: 1000, completion: 100, cached: 400 }, undefined),
      (600 * 3 + 400 * 1 + 100 * 6) / M,
      'cached',
    );
    close(
      price(['gpt-4o'], { prompt: 1000, completion: 0, cached: 5000 }, undefined),
      (1000 * 1) / M,
      'cached capped',
    );
    close(
      price(['no-cache-price'], { prompt: 1000, completion: 0, cached: 400 }, undefined),
      (1000 * 4) / M,
      'no cached price',
    );
    close(
      price(['gpt-4.1'], { prompt: 1000, completion: 0, cached: 1000 }, undefined),
      (1000 * 0.5) / M,
      'built-in cached',
    );
  });

  it('does not know unknown models or missing counts (null, never 0), and scripted models are free', () => {
    assert.equal(price(['mystery-model'], { prompt: 10, completion: 10, cached: 0 }, undefined), null);
    assert.equal(price([null, null], { prompt: 10, completion: 10, cached: 0 }, undefined), null);
    assert.equal(price(['gpt-4o'], { prompt: null, completion: 10, cached: 0 }, undefined), null);
    assert.equal(price(['gpt-4o'], { prompt: 10, completion: null, cached: 0 }, undefined), null);
    assert.equal(price(['scripted:echo'], { prompt: 1000, completion: 1000, cached: 0 }, undefined), 0);
    assert.equal(
      createPriceBook({})(['scripted:tools'], { prompt: 5, completion: 5, cached: null }, null),
      0,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// tokens.ts

describe('task tokens', () => {
  const SECRET = 'a-signing-key-of-32-characters!!';
  const TASK = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const issuer = createTokenIssuer(SECRET);

  it('verifies what it minted', () => {
    const token = issuer.mint(TASK, 3);
    assert.match(token, /^te1\.[0-9a-f-]{36}\.3\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(issuer.verify(token), { taskId: TASK, attempt: 3 });
    assert.deepEqual(
      createTokenIssuer(SECRET).verify(token),
      { taskId: TASK, attempt: 3 },
      'same key, other instance',
    );
  });

  it('rejects tampered, foreign and malformed tokens', () => {
    const token = issuer.mint(TASK, 3);
    const [prefix, task, attempt, signature] = token.split('.') as [string, string, string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
    const bad: [string, string][] = [
      ['another task id', [prefix, flip(task, 0), attempt, signature].join('.')],
      ['another attempt', [prefix, task, '4', signature].join('.')],
      ['attempt with a leading zero', [prefix, task, '03', signature].join('.')],
      ['signature changed', [prefix, task, attempt, flip(signature, 5)].join('.')],
      ['signature cut', [prefix, task, attempt, signature.slice(0, -1)].join('.')],
      ['another prefix', ['te2', task, attempt, signature].join('.')],
      ['a part more', `${token}.x`],
      ['no signature', [prefix, task, attempt].join('.')],
      ['empty', ''],
      ['another key', createTokenIssuer('another-signing-key-of-32-chars!').mint(TASK, 3)],
    ];
    assert.deepEqual(
      bad.map(([what, t]) => [what, issuer.verify(t)]),
      bad.map(([what]) => [what, null]),
    );
  });

  it('refuses a signing key shorter than 16 characters', () => {
    assert.throws(() => createTokenIssuer('fifteen-chars!!'), /at least 16 characters/);
    assert.doesNotThrow(() => createTokenIssuer('sixteen-chars!!!'));
  });
});

// ---------------------------------------------------------------------------------------------
// LLM_UPSTREAMS / LLM_MODEL_ROUTES validation

function configError(env: Record<string, string>): string {
  let message = '';
  assert.throws(
    () => loadConfig(env),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `a ConfigError, not ${String(e)}`);
      message = e.message;
      return true;
    },
  );
  return message;
}

describe('gateway settings validation', () => {
  it('names LLM_UPSTREAMS and the path of a bad field', () => {
    const badUrl = configError({ LLM_UPSTREAMS: JSON.stringify({ vllm: { base_url: 'ftp://gpu-box/v1' } }) });
    assert.match(badUrl, /LLM_UPSTREAMS=/);
    assert.match(badUrl, /\/vllm\/base_url: must match pattern/);

    const unknownKey = configError({
      LLM_UPSTREAMS: JSON.stringify({ vllm: { base_url: 'http://gpu-box/v1', return_tokens_ids: true } }),
    });
    assert.match(unknownKey, /LLM_UPSTREAMS=/);
    assert.match(unknownKey, /\/vllm: must not have additional properties/);

    const badKind = configError({
      LLM_UPSTREAMS: JSON.stringify({ vllm: { base_url: 'http://x', kind: 'tgi' } }),
    });
    assert.match(badKind, /\/vllm\/kind/);

    const badLogprobs = configError({
      LLM_UPSTREAMS: JSON.stringify({ vllm: { base_url: 'http://x', logprobs: 21 } }),
    });
    assert.match(badLogprobs, /\/vllm\/logprobs/);

    const noUrl = configError({ LLM_UPSTREAMS: JSON.stringify({ vllm: { kind: 'vllm' } }) });
    assert.match(noUrl, /LLM_UPSTREAMS=.*\/vllm/);

    assert.match(configError({ LLM_UPSTREAMS: '{not json' }), /LLM_UPSTREAMS=.*valid JSON/);
    assert.match(
      configError({ LLM_MODEL_ROUTES: JSON.stringify({ m: { upstream: 'bad name!' } }) }),
      /LLM_MODEL_ROUTES=.*\/m/,
    );
  });

  it('accepts a valid configuration as parsed JSON', () => {
    const upstreams = {
      vllm: { base_url: 'http://gpu-box:8000/v1', kind: 'vllm', logprobs: 5, models: ['Qwen/*'] },
    };
    const config: Config = loadConfig({ LLM_UPSTREAMS: JSON.stringify(upstreams) });
    assert.deepEqual(config.LLM_UPSTREAMS, upstreams);
  });

  it('validates an upstream whose name does not match the name pattern', () => {
    const message = configError({
      LLM_UPSTREAMS: JSON.stringify({ 'my vllm': { base_url: 'ftp://x', bogus: 1 } }),
    });
    assert.match(message, /LLM_UPSTREAMS/);
  });

  it('refuses a misspelt key in a route target', () => {
    const message = configError({
      LLM_MODEL_ROUTES: JSON.stringify({ m: { upstream: 'openai', modle: 'x' } }),
    });
    assert.match(message, /LLM_MODEL_ROUTES/);
  });
});
