/**
 * Stream reassembly (StreamAssembler): content, reasoning, refusals and tool calls by index, logprobs
 * and vLLM token ids, partial streams.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamAssembler } from '../src/gateway/assemble.ts';

// biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary response JSON.
type Doc = any;
type Obj = Record<string, unknown>;

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
