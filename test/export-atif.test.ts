import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { atifDocuments } from '../src/datasets/export/atif.ts';
import type { AtifStep, AtifTrajectory } from '../src/datasets/export/atif-types.ts';
import { TrajectoryRecord } from '../src/datasets/export/record.ts';
import { atifErrors } from './helpers/atif-spec.ts';
import {
  assistant,
  makeConversation,
  makeRecord,
  system,
  type TurnSpec,
  toolCalls,
  toolEpisodeTurns,
  toolResult,
  user,
  uuid,
} from './helpers/export-fixtures.ts';

const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

function convert(record: TrajectoryRecord): AtifTrajectory {
  assert.ok(Value.Check(TrajectoryRecord, record), 'the fixture is a valid trajectory record');
  const docs = atifDocuments(record) as AtifTrajectory[];
  assert.equal(docs.length, 1, 'one document per record');
  const doc = docs[0]!;
  assert.deepEqual(atifErrors(JSON.parse(JSON.stringify(doc))), []);
  return doc;
}

/** Every tool call of a step answered by an observation of the same step, and nothing else named. */
function assertCallsAnswered(steps: AtifStep[]) {
  for (const s of steps) {
    const calls = (s.tool_calls ?? []).map((c) => c.tool_call_id).sort();
    const answered = (s.observation?.results ?? []).map((r) => r.source_call_id).sort();
    assert.deepEqual(answered, calls, `step ${s.step_id}`);
  }
}

const tokenTurns = (): TurnSpec[] =>
  toolEpisodeTurns().map((t, i) => ({
    ...t,
    call: {
      ...t.call,
      prompt_token_ids: [1, 2, 3 + i],
      completion_token_ids: [10 + i],
      completion_logprobs: [-0.5],
      cached_tokens: i,
      cost: 0.25,
    },
  }));

describe('atif.jsonl', () => {
  it('a tool episode: system and user steps, agent turns holding their calls and observations', () => {
    const record = makeRecord([makeConversation({ id: uuid(7), turns: tokenTurns() })], { reward: 0.5 });
    const doc = convert(record);
    assert.equal(doc.schema_version, 'ATIF-v1.4');
    assert.equal(doc.session_id, `${uuid(1)}-attempt-1`);
    assert.deepEqual(doc.agent, {
      name: 'task-executor',
      version: VERSION,
      model_name: 'test-model',
      extra: { agent_config: { model: 'test-model' } },
    });
    assert.deepEqual(
      doc.steps.map((s) => [s.step_id, s.source]),
      [
        [1, 'system'],
        [2, 'user'],
        [3, 'agent'],
        [4, 'agent'],
        [5, 'agent'],
      ],
    );
    const [, userStep, first, second, last] = doc.steps as [AtifStep, AtifStep, AtifStep, AtifStep, AtifStep];
    assert.equal(userStep.message, 'Pods of geo are failing. Detect the fault.');
    assert.equal(userStep.timestamp, record.conversations[0]!.calls[0]!.started_at);
    assert.deepEqual(first.tool_calls, [
      { tool_call_id: 'call_1', function_name: 'exec_shell', arguments: { command: 'kubectl get pods' } },
    ]);
    assert.deepEqual(first.observation, {
      results: [{ source_call_id: 'call_1', content: 'geo-1 CrashLoopBackOff' }],
    });
    assert.equal(first.message, '');
    assert.equal(second.message, 'Checking logs.');
    assert.equal(last.tool_calls, undefined);
    assert.equal(last.observation, undefined);
    assert.deepEqual(second.metrics, {
      prompt_tokens: 10,
      completion_tokens: 5,
      cached_tokens: 1,
      cost_usd: 0.25,
      prompt_token_ids: [1, 2, 4],
      completion_token_ids: [11],
      logprobs: [-0.5],
      extra: { end_reason: 'done', latency_ms: 120 },
    });
    assert.deepEqual(second.extra, { conversation_id: uuid(7), message_seq: 5, call_seq: 2 });
    assertCallsAnswered(doc.steps);
    assert.deepEqual(doc.final_metrics, {
      total_steps: 5,
      total_prompt_tokens: 30,
      total_completion_tokens: 15,
      total_cached_tokens: 3,
      total_cost_usd: 0.75,
      extra: { calls: 3 },
    });
    assert.equal(doc.extra?.task_id, uuid(1));
    assert.equal(doc.extra?.attempt, 1);
    assert.equal(doc.extra?.reward, 0.5);
    assert.equal(doc.notes, undefined);
  });

  it('two conversations are numbered as one run, each step naming its conversation', () => {
    const a = makeConversation({ id: uuid(7), turns: toolEpisodeTurns() });
    const b = makeConversation({
      id: uuid(8),
      turns: [{ add: [user('Judge this.')], reply: assistant('1') }],
    });
    const doc = convert(makeRecord([a, b]));
    assert.deepEqual(
      doc.steps.map((s) => [s.step_id, s.extra?.conversation_id]),
      [1, 2, 3, 4, 5, 6, 7].map((id) => [id, id <= 5 ? uuid(7) : uuid(8)]),
    );
    assert.match(doc.notes ?? '', /2 conversations/);
  });

  it('an attempt with no LLM call still has its document: one empty system step and the reward', () => {
    const doc = convert(makeRecord([], { reward: 0, status: 'failed' }));
    assert.deepEqual(doc.steps, [
      { step_id: 1, source: 'system', message: '', extra: { note: 'no LLM conversation recorded' } },
    ]);
    assert.equal(doc.extra?.reward, 0);
    assert.match(doc.notes ?? '', /No LLM conversation/);
    assert.equal(doc.final_metrics?.total_prompt_tokens, undefined);
  });

  it('malformed arguments are kept raw; a tool result answering no call of its turn names none', () => {
    const bad = toolCalls([['c1', 'exec_shell', {}]]);
    (bad.tool_calls as { function: { arguments: string } }[])[0]!.function.arguments = '{"command": "ls';
    const turns: TurnSpec[] = [
      { add: [user('Go.')], reply: bad },
      { add: [toolResult('c1', 'parse error'), toolResult('c9', 'stray')], reply: assistant('Done.') },
    ];
    const doc = convert(makeRecord([makeConversation({ turns })]));
    const turn = doc.steps[1]!;
    assert.deepEqual(turn.tool_calls?.[0]?.arguments, { raw_arguments: '{"command": "ls' });
    assert.deepEqual(turn.observation?.results, [
      { source_call_id: 'c1', content: 'parse error' },
      { content: 'stray' },
    ]);
  });

  it('a rewritten history gives the final branch only; the calls left behind are counted and noted', () => {
    const turns: TurnSpec[] = [
      { add: [system('Be brief.'), user('Find the fault.')], reply: assistant('Looking.') },
      { add: [user('pods: …')], reply: assistant('Still looking.') },
      { from: 1, add: [user('Summary: geo crashes.')], reply: assistant('submit("Yes")') },
    ];
    const doc = convert(makeRecord([makeConversation({ turns })]));
    assert.deepEqual(
      doc.steps.map((s) => [s.source, s.message]),
      [
        ['system', 'Be brief.'],
        ['user', 'Summary: geo crashes.'],
        ['agent', 'submit("Yes")'],
      ],
    );
    assert.equal(doc.final_metrics?.total_prompt_tokens, 30);
    assert.match(doc.notes ?? '', /2 of 3 calls are not steps/);
  });
});

describe('the ATIF v1.4 checker', () => {
  const valid = (): Record<string, unknown> => ({
    schema_version: 'ATIF-v1.4',
    session_id: 's',
    agent: { name: 'a', version: '1' },
    steps: [
      { step_id: 1, source: 'user', message: 'hi' },
      {
        step_id: 2,
        source: 'agent',
        message: '',
        tool_calls: [{ tool_call_id: 'x', function_name: 'f', arguments: {} }],
        observation: { results: [{ source_call_id: 'x', content: 'ok' }] },
      },
    ],
  });

  it('accepts a valid trajectory', () => {
    assert.deepEqual(atifErrors(valid()), []);
  });

  it('rejects what Harbor rejects', () => {
    const broken: [string, (d: Record<string, unknown>) => void, RegExp][] = [
      ['no steps', (d) => (d.steps = []), /steps/],
      ['unknown field', (d) => (d.reward = 1), /reward|additional/i],
      ['step ids out of order', (d) => ((d.steps as { step_id: number }[])[1]!.step_id = 3), /expected 2/],
      [
        'observation naming another call',
        (d) =>
          ((d.steps as { observation?: unknown }[])[1]!.observation = { results: [{ source_call_id: 'y' }] }),
        /names y/,
      ],
      [
        'metrics on a user step',
        (d) => ((d.steps as { metrics?: unknown }[])[0]!.metrics = {}),
        /agent steps/,
      ],
      ['bad timestamp', (d) => ((d.steps as { timestamp?: string }[])[0]!.timestamp = 'yesterday'), /ISO/],
      ['bad version', (d) => (d.schema_version = '1.4'), /schema_version/],
    ];
    for (const [name, breakIt, error] of broken) {
      const doc = valid();
      breakIt(doc);
      const errors = atifErrors(doc);
      assert.ok(
        errors.some((e) => error.test(e)),
        `${name}: ${JSON.stringify(errors)}`,
      );
    }
  });
});
