/**
 * `scripted:solver` and `scripted:wrong` against the built-in sandbox: every sandbox problem is
 * played as the built-in agent plays it (the stock `gpt` prompt rebuilt each turn, the scripted
 * upstream's JSON document as the reply) until the environment says done. The solver must score
 * on every problem and the wrong policy on none, and both read compact kubectl output: no
 * observation is longer than MAX_OBSERVATION characters.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildMessages, type PromptStyle, type Turn } from '../src/agent/prompt.ts';
import type { EpisodeEvaluation } from '../src/backends/environment.ts';
import { createSandboxEnvironment, SANDBOX_PROBLEMS } from '../src/backends/sandbox/index.ts';
import { scriptedAnswer } from '../src/gateway/scripted.ts';

const MAX_STEPS = 30;
/** The longest observation either policy may cause (full `-o json` lists run to 100k+ characters). */
const MAX_OBSERVATION = 8_000;

interface Played {
  evaluation: EpisodeEvaluation;
  steps: number;
  replies: string[];
  observations: string[];
}

function reply(model: string, messages: unknown): string {
  const { status, parts } = scriptedAnswer({ model, messages } as never);
  assert.equal(status, 200, parts.join(''));
  const doc = JSON.parse(parts.join('')) as { choices: { message: { content: string } }[] };
  return doc.choices[0]!.message.content;
}

/** One episode, turn by turn, exactly as GatewayAgent builds its prompts. */
async function play(model: string, problemId: string, style: PromptStyle = 'gpt'): Promise<Played> {
  const signal = new AbortController().signal;
  const env = createSandboxEnvironment(problemId);
  try {
    const start = await env.start(signal);
    const problem = {
      task_description: start.task_description,
      instructions: start.instructions,
      apis: start.apis,
    };
    const turns: Turn[] = [];
    let input = start.first_input;
    const replies: string[] = [];
    const observations: string[] = [];
    for (let i = 0; i < MAX_STEPS; i++) {
      const text = reply(model, buildMessages(style, problem, [...turns, { input }]));
      turns.push({ input, reply: text });
      replies.push(text);
      const step = await env.step(text, signal);
      observations.push(step.observation);
      if (step.done) break;
      input = step.next_input;
    }
    return { evaluation: await env.finish(signal), steps: replies.length, replies, observations };
  } finally {
    await env.cancel();
  }
}

function scored(taskType: string, results: Record<string, unknown>): boolean {
  if (taskType === 'detection') return results['Detection Accuracy'] === 'Correct';
  return results.success === true;
}

const transcript = (p: Played) =>
  p.replies
    .map((r, i) => `--- reply ${i + 1}\n${r}\n--- observation\n${p.observations[i]?.slice(0, 1500)}`)
    .join('\n');

for (const problem of SANDBOX_PROBLEMS) {
  test(`solver solves ${problem.id}`, async () => {
    const played = await play('scripted:solver', problem.id);
    const { results } = played.evaluation;
    assert.ok(
      scored(problem.task_type, results),
      `${problem.id}: ${JSON.stringify(results)}\n${transcript(played)}`,
    );
    assert.ok(played.steps <= 15, `${played.steps} steps`);
    for (const r of played.replies) assert.doesNotMatch(r, /Error parsing response/);
    for (const o of played.observations) assert.ok(o.length <= MAX_OBSERVATION, `${o.length} characters`);
  });

  test(`wrong fails ${problem.id}`, async () => {
    const played = await play('scripted:wrong', problem.id);
    const { results } = played.evaluation;
    assert.ok(!scored(problem.task_type, results), `${problem.id}: ${JSON.stringify(results)}`);
    assert.ok(played.steps <= 3, `${played.steps} steps`);
    for (const o of played.observations) {
      assert.doesNotMatch(o, /Error parsing response|Invalid Format/);
      assert.ok(o.length <= MAX_OBSERVATION, `${o.length} characters`);
    }
  });
}

// The other stock prompts wrap the inputs differently (ReAct appends instructions to each one,
// DeepSeek adds an empty assistant turn): the solver reads the observations all the same.
for (const style of ['react', 'deepseek', 'llama'] as const) {
  test(`solver solves every mitigation with the ${style} prompt`, async () => {
    for (const problem of SANDBOX_PROBLEMS.filter((p) => p.task_type === 'mitigation')) {
      const played = await play('scripted:solver', problem.id, style);
      assert.ok(scored('mitigation', played.evaluation.results), `${problem.id}\n${transcript(played)}`);
    }
  });
}

test('the solver is deterministic: the same problem plays the same replies', async () => {
  const first = SANDBOX_PROBLEMS[0]!;
  const a = await play('scripted:solver', first.id);
  const b = await play('scripted:solver', first.id);
  assert.deepEqual(a.replies, b.replies);
});
