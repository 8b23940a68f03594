/**
 * The built-in agent's prompt and configuration: each stock-client style sends exactly the
 * messages its AIOpsLab client sends, and agent_config is validated field by field.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentConfigError, buildMessages, PROMPT_STYLES, parseAgentConfig } from '../src/agent/index.ts';
import {
  agentFor,
  completion,
  expectedSecondPrompt,
  FIRST_INPUT,
  fakeEndpoint,
  PROBLEM,
  SECOND_INPUT,
} from './helpers/agent.ts';

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
