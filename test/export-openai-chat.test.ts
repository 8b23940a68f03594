import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { type ChatLine, openAiChatLines } from '../src/datasets/export/openai-chat.ts';
import { TrajectoryRecord } from '../src/datasets/export/record.ts';
import {
  assistant,
  makeConversation,
  makeRecord,
  system,
  TOOLS,
  toolEpisodeTurns,
  toolResult,
  user,
} from './helpers/export-fixtures.ts';
import { fineTuningErrors } from './helpers/openai-chat-format.ts';

function convert(record: TrajectoryRecord): ChatLine[] {
  assert.ok(Value.Check(TrajectoryRecord, record), 'the fixture is a valid trajectory record');
  const lines = openAiChatLines(record) as ChatLine[];
  for (const line of lines) assert.deepEqual(fineTuningErrors(line), [], JSON.stringify(line));
  return lines;
}

const call = (id: string, name: string, args: object) => ({
  id,
  type: 'function',
  function: { name, arguments: JSON.stringify(args) },
});

describe('openai-chat.jsonl', () => {
  it('a tool episode becomes one valid line with its tools and tool-call pairs', () => {
    const [line, ...rest] = convert(makeRecord([makeConversation({ turns: toolEpisodeTurns() })]));
    assert.equal(rest.length, 0);
    assert.deepEqual(line, {
      messages: [
        { role: 'system', content: 'You are an SRE agent.' },
        { role: 'user', content: 'Pods of geo are failing. Detect the fault.' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [call('call_1', 'exec_shell', { command: 'kubectl get pods' })],
        },
        { role: 'tool', content: 'geo-1 CrashLoopBackOff', tool_call_id: 'call_1' },
        {
          role: 'assistant',
          content: 'Checking logs.',
          tool_calls: [call('call_2', 'exec_shell', { command: 'kubectl logs geo-1' })],
        },
        { role: 'tool', content: 'error: cannot connect to mongodb', tool_call_id: 'call_2' },
        { role: 'assistant', content: 'Fault detected: geo cannot reach mongodb. submit("Yes")' },
      ],
      tools: TOOLS,
      parallel_tool_calls: false,
    });
  });

  it('a conversation whose history was rewritten exports only its final branch', () => {
    const turns = [
      { add: [system('Be brief.'), user('Find the fault.')], reply: assistant('Looking at pods.') },
      { add: [user('Output of kubectl get pods: …')], reply: assistant('Looking at logs.') },
      // The agent summarised its context: a new user turn hanging from the system prompt.
      { from: 1, add: [user('Summary: geo crashes. Decide.')], reply: assistant('submit("Yes")') },
    ];
    const [line] = convert(makeRecord([makeConversation({ turns })]));
    assert.deepEqual(line?.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Summary: geo crashes. Decide.' },
      { role: 'assistant', content: 'submit("Yes")' },
    ]);
    assert.equal(line?.tools, undefined);
  });

  it('a conversation without an assistant reply gives no line; the others still do', () => {
    const failed = makeConversation({ turns: [{ add: [user('Hello?')], reply: null }] });
    const ok = makeConversation({ turns: [{ add: [user('Hi')], reply: assistant('Hello.') }] });
    const lines = convert(makeRecord([failed, ok, makeConversation({ turns: [] })]));
    assert.deepEqual(
      lines.map((l) => l.messages.length),
      [2],
    );
  });

  it('a last call that failed still exports the context it was sent', () => {
    const turns = [
      ...toolEpisodeTurns().slice(0, 2),
      { add: [toolResult('call_2', 'timeout')], reply: null },
    ];
    const [line] = convert(makeRecord([makeConversation({ turns })]));
    assert.deepEqual(line?.messages.at(-1), { role: 'tool', content: 'timeout', tool_call_id: 'call_2' });
    assert.equal(line?.messages.length, 6);
  });

  it('text parts are flattened, developer becomes system, object arguments are encoded', () => {
    const parts = [
      { type: 'text', text: 'Pods are ' },
      { type: 'text', text: 'failing.' },
    ];
    const objectArgs = {
      role: 'assistant',
      content: [{ type: 'text', text: 'Running.' }],
      tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'exec_shell', arguments: { command: 'ls' } } },
      ],
    };
    const turns = [
      { add: [{ role: 'developer', content: 'Rules.' }, user(parts)], reply: objectArgs },
      { add: [toolResult('c1', [{ type: 'text', text: 'a.txt' }])], reply: assistant('Done.') },
    ];
    const [line] = convert(makeRecord([makeConversation({ turns })]));
    assert.deepEqual(line?.messages.slice(0, 4), [
      { role: 'system', content: 'Rules.' },
      { role: 'user', content: 'Pods are failing.' },
      { role: 'assistant', content: 'Running.', tool_calls: [call('c1', 'exec_shell', { command: 'ls' })] },
      { role: 'tool', content: 'a.txt', tool_call_id: 'c1' },
    ]);
  });

  it('an image part is kept as a part array, which the format accepts on user messages', () => {
    const image = [
      { type: 'text', text: 'This dashboard:' },
      { type: 'image_url', image_url: { url: 'https://example.com/d.png' } },
    ];
    const [line] = convert(
      makeRecord([makeConversation({ turns: [{ add: [user(image)], reply: assistant('CPU is high.') }] })]),
    );
    assert.deepEqual(line?.messages[0], { role: 'user', content: image });
  });
});

describe('the fine-tuning format checker', () => {
  const good = {
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: null, tool_calls: [call('a', 'f', {})] },
      { role: 'tool', content: 'x', tool_call_id: 'a' },
      { role: 'assistant', content: 'ok' },
    ],
  };

  it('accepts a valid line, and a final assistant turn whose calls are unanswered', () => {
    assert.deepEqual(fineTuningErrors(good), []);
    assert.deepEqual(fineTuningErrors({ messages: good.messages.slice(0, 2) }), []);
  });

  it('rejects what OpenAI rejects', () => {
    const cases: [string, unknown, RegExp][] = [
      ['extra key', { ...good, task_id: 'x' }, /extra top-level key "task_id"/],
      ['no assistant', { messages: [good.messages[0]] }, /no assistant message/],
      [
        'bad role',
        { messages: [{ role: 'developer', content: 'x' }, ...good.messages] },
        /not a fine-tuning role/,
      ],
      [
        'unknown tool answer',
        {
          messages: [good.messages[0], { role: 'tool', content: 'x', tool_call_id: 'zz' }, good.messages[3]],
        },
        /answers tool call "zz"/,
      ],
      [
        'unanswered call',
        { messages: [good.messages[0], good.messages[1], good.messages[3]] },
        /tool calls a unanswered/,
      ],
      [
        'null user content',
        { messages: [{ role: 'user', content: null }, good.messages[3]] },
        /content must be/,
      ],
      [
        'arguments object',
        {
          messages: [
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: {} } }],
            },
          ],
        },
        /tool_calls\[0\]/,
      ],
    ];
    for (const [name, line, error] of cases)
      assert.ok(
        fineTuningErrors(line).some((e) => error.test(e)),
        `${name}: ${JSON.stringify(fineTuningErrors(line))}`,
      );
  });
});
