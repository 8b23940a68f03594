import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { TrajectoryRecord } from '../src/datasets/export/record.ts';
import type { TokenLine } from '../src/datasets/export/token-types.ts';
import { tokenLines } from '../src/datasets/export/tokens.ts';
import {
  assistant,
  makeConversation,
  makeRecord,
  type TurnSpec,
  toolEpisodeTurns,
  toolResult,
  uuid,
} from './helpers/export-fixtures.ts';

// Hand-chosen ids for the three-call tool episode: system+user render as 1 2 3 4; each tool
// result (plus the template's glue) as two or three ids the environment adds.
const P1 = [1, 2, 3, 4];
const C1 = [10, 11, 12];
const P2 = [...P1, ...C1, 20, 21];
const C2 = [30, 31];
const P3 = [...P2, ...C2, 40, 41, 42];
const C3 = [50, 51, 52];
const L1 = [-0.1, -0.2, -0.3];
const L2 = [-0.4, -0.5];
const L3 = [-0.6, -0.7, -0.8];

type Ids = { prompt: number[] | null; completion: number[] | null; logprobs: number[] | null };

/** The tool episode with these ids on its three calls. */
function episode(ids: Ids[], fields: Parameters<typeof makeRecord>[1] = {}) {
  const turns = toolEpisodeTurns().map((t, i) => withIds(t, ids[i]));
  return makeRecord([makeConversation({ id: uuid(7), turns })], fields);
}

const withIds = (t: TurnSpec, ids: Ids | undefined): TurnSpec =>
  ids
    ? {
        ...t,
        call: {
          ...t.call,
          prompt_token_ids: ids.prompt,
          completion_token_ids: ids.completion,
          completion_logprobs: ids.logprobs,
        },
      }
    : t;

const consistent = (): Ids[] => [
  { prompt: P1, completion: C1, logprobs: L1 },
  { prompt: P2, completion: C2, logprobs: L2 },
  { prompt: P3, completion: C3, logprobs: L3 },
];

function only(record: TrajectoryRecord): TokenLine {
  assert.ok(Value.Check(TrajectoryRecord, record), 'the fixture is a valid trajectory record');
  const lines = tokenLines(record) as TokenLine[];
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  if (line.response_ids !== null) {
    assert.equal(line.response_mask?.length, line.response_ids.length, 'mask aligned with ids');
    if (line.response_logprobs !== null)
      assert.equal(line.response_logprobs.length, line.response_ids.length, 'logprobs aligned with ids');
  }
  return line;
}

describe('tokens.jsonl', () => {
  it('a consistent three-call tool episode: sampled tokens masked 1, environment tokens 0', () => {
    const line = only(episode(consistent(), { reward: 0.5, policy_version: 3, cursor: '42' }));
    assert.deepEqual(line.prompt_ids, [1, 2, 3, 4]);
    assert.deepEqual(line.response_ids, [10, 11, 12, 20, 21, 30, 31, 40, 41, 42, 50, 51, 52]);
    assert.deepEqual(line.response_mask, [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1]);
    assert.deepEqual(line.response_logprobs, [-0.1, -0.2, -0.3, 0, 0, -0.4, -0.5, 0, 0, 0, -0.6, -0.7, -0.8]);
    assert.equal(line.token_ids_recorded, true);
    assert.equal(line.token_consistent, true);
    assert.equal(line.drift, null);
    assert.equal(line.note, null);
    assert.equal(line.calls_used, 3);
    assert.equal(line.calls_total, 3);
    assert.equal(line.reward, 0.5);
    assert.equal(line.policy_version, 3);
    assert.equal(line.cursor, '42');
    assert.equal(line.conversation_id, uuid(7));
    assert.equal(line.model, 'test-model');
    assert.equal(line.task_id, uuid(1));
    assert.equal(line.attempt, 1);
    assert.equal(line.status, 'completed');
  });

  it('a prompt that rewrote an earlier token is a drift at that position; the ids stop before it', () => {
    const ids = consistent();
    const rewritten = [...P3];
    rewritten[6] = 99; // call 1's last sampled token, re-tokenized differently
    ids[2] = { prompt: rewritten, completion: C3, logprobs: L3 };
    const line = only(episode(ids));
    assert.equal(line.token_consistent, false);
    assert.deepEqual(line.drift, { call_seq: 3, position: 6 });
    assert.deepEqual(line.response_ids, [10, 11, 12, 20, 21, 30, 31]);
    assert.deepEqual(line.response_mask, [1, 1, 1, 0, 0, 1, 1]);
    assert.deepEqual(line.response_logprobs, [-0.1, -0.2, -0.3, 0, 0, -0.4, -0.5]);
    assert.equal(line.calls_used, 2);
    assert.equal(line.calls_total, 3);
    assert.match(line.note ?? '', /call 3.*token 6/);
  });

  it('a prompt that rewrote a sampled token of the previous call drifts there', () => {
    const ids = consistent();
    const rewritten = [...P3];
    rewritten[10] = 99; // call 2's second sampled token (P2 is 9 ids, then C2)
    ids[2] = { prompt: rewritten, completion: C3, logprobs: L3 };
    const line = only(episode(ids));
    assert.deepEqual(line.drift, { call_seq: 3, position: 10 });
    assert.equal(line.calls_used, 2);
  });

  it('a tool result of 200k tokens (a long-context model) assembles like any other', () => {
    const output = Array.from({ length: 200_000 }, (_, i) => 1000 + (i % 5000));
    const p2 = [...P1, ...C1, ...output];
    const p3 = [...p2, ...C2, 40];
    const line = only(
      episode([
        { prompt: P1, completion: C1, logprobs: L1 },
        { prompt: p2, completion: C2, logprobs: L2 },
        { prompt: p3, completion: C3, logprobs: L3 },
      ]),
    );
    assert.equal(line.token_consistent, true);
    assert.deepEqual(line.response_ids, [...C1, ...output, ...C2, 40, ...C3]);
    assert.equal(line.response_mask?.filter((m) => m === 0).length, output.length + 1);
    assert.deepEqual(line.response_logprobs?.slice(-4), [0, ...L3]);
  });

  it('a prompt that truncated the context drifts at its own length', () => {
    const ids = consistent();
    ids[2] = { prompt: [1, 2, 3, 4, 10], completion: C3, logprobs: L3 };
    const line = only(episode(ids));
    assert.deepEqual(line.drift, { call_seq: 3, position: 5 });
    assert.equal(line.calls_used, 2);
  });

  it('no ids recorded: every id field null, and the note names the upstream option', () => {
    const line = only(episode([]));
    assert.equal(line.token_ids_recorded, false);
    for (const k of ['prompt_ids', 'response_ids', 'response_mask', 'response_logprobs'] as const)
      assert.equal(line[k], null, k);
    assert.equal(line.token_consistent, null);
    assert.equal(line.drift, null);
    assert.equal(line.calls_used, 0);
    assert.equal(line.calls_total, 3);
    assert.match(line.note ?? '', /return_token_ids/);
  });

  it('one call without logprobs: ids kept, logprobs null rather than partly filled', () => {
    const ids = consistent();
    ids[1] = { prompt: P2, completion: C2, logprobs: null };
    const line = only(episode(ids));
    assert.deepEqual(line.response_ids, [10, 11, 12, 20, 21, 30, 31, 40, 41, 42, 50, 51, 52]);
    assert.equal(line.response_logprobs, null);
    assert.equal(line.token_consistent, true);
    assert.match(line.note ?? '', /call 2 has no logprobs/);
  });

  it('logprobs of another length than their tokens are dropped with a note', () => {
    const ids = consistent();
    ids[0] = { prompt: P1, completion: C1, logprobs: [-0.1, -0.2] };
    const line = only(episode(ids));
    assert.equal(line.response_logprobs, null);
    assert.match(line.note ?? '', /call 1 has 2 logprobs for 3 tokens/);
  });

  it('an errored call in the middle is skipped and the retry continues the context', () => {
    const [first, second] = toolEpisodeTurns();
    const turns: TurnSpec[] = [
      withIds(first!, { prompt: P1, completion: C1, logprobs: L1 }),
      // The tool result goes out, the upstream fails: no reply, no ids.
      { add: second!.add, reply: null },
      // The agent retries the same prompt and gets an answer.
      withIds({ reply: assistant('Retried.') }, { prompt: P2, completion: C2, logprobs: L2 }),
    ];
    const line = only(makeRecord([makeConversation({ turns })]));
    assert.deepEqual(line.response_ids, [10, 11, 12, 20, 21, 30, 31]);
    assert.deepEqual(line.response_mask, [1, 1, 1, 0, 0, 1, 1]);
    assert.equal(line.token_consistent, true);
    assert.equal(line.calls_used, 2);
    assert.equal(line.calls_total, 3);
    assert.match(line.note ?? '', /calls 2 skipped/);
  });

  it('a cut stream with partial completion ids is skipped too, so its retry is no drift', () => {
    const [first, second] = toolEpisodeTurns();
    const turns: TurnSpec[] = [
      withIds(first!, { prompt: P1, completion: C1, logprobs: L1 }),
      {
        add: second!.add,
        reply: assistant('Chec'),
        call: { end_reason: 'client_cancelled', prompt_token_ids: P2, completion_token_ids: [30] },
      },
      withIds({ from: 4, reply: assistant('Checking.') }, { prompt: P2, completion: C2, logprobs: L2 }),
    ];
    const line = only(makeRecord([makeConversation({ turns })]));
    assert.equal(line.token_consistent, true);
    assert.deepEqual(line.response_ids, [10, 11, 12, 20, 21, 30, 31]);
    assert.equal(line.calls_used, 2);
  });

  it('completion ids without prompt ids: recorded, but nothing can be assembled', () => {
    const ids = consistent();
    ids[1] = { prompt: null, completion: C2, logprobs: L2 };
    const line = only(episode(ids));
    assert.equal(line.token_ids_recorded, true);
    assert.equal(line.prompt_ids, null);
    assert.equal(line.response_ids, null);
    assert.equal(line.token_consistent, null);
    assert.equal(line.calls_used, 0);
    assert.match(line.note ?? '', /call 2 has completion ids but no prompt ids/);
  });

  it('one line per conversation, each with its own id and model', () => {
    const a = makeConversation({ id: uuid(7), turns: toolEpisodeTurns() });
    const b = makeConversation({ id: uuid(8), model_name: null, turns: [{ add: [toolResult('x', 'y')] }] });
    b.calls[0]!.model = 'judge-model';
    const lines = tokenLines(makeRecord([a, b])) as TokenLine[];
    assert.deepEqual(
      lines.map((l) => [l.conversation_id, l.model]),
      [
        [uuid(7), 'test-model'],
        [uuid(8), 'judge-model'],
      ],
    );
  });
});
