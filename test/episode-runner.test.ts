/**
 * The episode runner against a small scripted environment and agent: the turn order, the
 * result shape, step logs, max_steps, LLM retries with backoff, failures as codes, and
 * cancellation in the middle of a call. (The sandbox and the real gateway are exercised in
 * test/e2e-episodes.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LlmCallError } from '../src/agent/index.ts';
import {
  type Environment,
  EnvironmentError,
  type EpisodeEvaluation,
  type EpisodeStart,
  type StepResult,
} from '../src/backends/environment.ts';
import {
  boundedTrace,
  type EpisodeAgent,
  runEpisode,
  TRACE_RESULT_MAX_CHARS,
} from '../src/backends/episode.ts';
import type { Json, LogLevel } from '../src/queue/types.ts';

const START: EpisodeStart = {
  problem_id: 'toy-detection-1',
  task_type: 'detection',
  task_description: 'Detect.',
  instructions: 'Answer with submit.',
  apis: { exec_shell: 'Run a command.', submit: 'Submit.' },
  first_input: 'Please take the next action',
};

/** Replies "submit" end the episode; "junk" is a parse error; anything else is a shell call. */
class ToyEnvironment implements Environment {
  steps = 0;
  cancelled = 0;
  inputs: string[] = [];
  constructor(private readonly stepGate?: (signal: AbortSignal) => Promise<void>) {}
  async start(): Promise<EpisodeStart> {
    return START;
  }
  async step(reply: string, signal: AbortSignal): Promise<StepResult> {
    await this.stepGate?.(signal);
    this.steps++;
    const submitted = reply === 'submit';
    const parseError = reply === 'junk' ? 'Error parsing response: No API call found!' : null;
    const observation = parseError ?? (submitted ? 'VALID_SUBMISSION' : `output of ${reply}`);
    return {
      step: this.steps,
      observation,
      next_input: `${observation}\nPlease take the next action`,
      call: parseError ? null : { api: submitted ? 'submit' : 'exec_shell', args: [reply], kwargs: {} },
      parse_error: parseError,
      submitted,
      done: submitted,
    };
  }
  async finish(): Promise<EpisodeEvaluation> {
    return { results: { steps: this.steps, 'Detection Accuracy': 'Correct' }, trace: [], solution: 'Yes' };
  }
  async cancel(): Promise<void> {
    this.cancelled++;
  }
}

/** Answers from a list; an Error in the list is thrown instead. */
class ToyAgent implements EpisodeAgent {
  inputs: string[] = [];
  conversationId: string | null = null;
  usage = { calls: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  constructor(private readonly answers: (string | Error)[]) {}
  init(): void {}
  async getAction(input: string): Promise<string> {
    this.inputs.push(input);
    const next = this.answers.shift();
    if (next === undefined) throw new Error('agent ran out of answers');
    if (next instanceof Error) throw next;
    this.conversationId = 'conv-1';
    this.usage.calls++;
    return next;
  }
}

function transient(status: number): LlmCallError {
  return new LlmCallError(`HTTP ${status}`, {
    status,
    code: null,
    type: null,
    detail: 'busy',
    retryable: true,
  });
}

function setup(
  answers: (string | Error)[],
  o: { maxSteps?: number; retries?: number; env?: ToyEnvironment } = {},
) {
  const env = o.env ?? new ToyEnvironment();
  const agent = new ToyAgent(answers);
  const logs: { level: LogLevel; message: string; context?: Json }[] = [];
  const abort = new AbortController();
  const run = () =>
    runEpisode({
      problemId: START.problem_id,
      backend: 'toy',
      model: 'scripted:solver',
      maxSteps: o.maxSteps ?? 10,
      environment: env,
      agent,
      signal: abort.signal,
      retry: { retries: o.retries ?? 2, backoffMs: 1 },
      log: (level, message, context) => logs.push({ level, message, context }),
    });
  return { env, agent, logs, abort, run };
}

// biome-ignore lint/suspicious/noExplicitAny: results are read field by field.
const fields = (v: unknown) => v as Record<string, any>;

describe('episode runner', () => {
  it('takes turns until the submission, then evaluates; each step and phase is a log entry', async () => {
    const { env, agent, logs, run } = setup(['ls', 'junk', 'submit']);
    const outcome = await run();
    assert.equal(outcome.status, 'completed');
    const r = fields(outcome.status === 'completed' ? outcome.result : null);
    assert.equal(r.end_reason, 'submitted');
    assert.equal(r.steps, 3);
    assert.equal(r.task_type, 'detection');
    assert.equal(r.conversation_id, 'conv-1');
    assert.deepEqual(r.results, { steps: 3, 'Detection Accuracy': 'Correct' });
    // The environment frames every input; a parse error costs a step and is the next input.
    assert.deepEqual(agent.inputs, [
      'Please take the next action',
      'output of ls\nPlease take the next action',
      'Error parsing response: No API call found!\nPlease take the next action',
    ]);
    const steps = logs.filter(
      (l) => fields(l.context).step !== undefined && fields(l.context).observation_head !== undefined,
    );
    assert.deepEqual(
      steps.map((l) => [fields(l.context).step, l.level]),
      [
        [1, 'info'],
        [2, 'warning'],
        [3, 'info'],
      ],
    );
    assert.equal(fields(steps[1]!.context).parse_error, 'Error parsing response: No API call found!');
    assert.deepEqual(fields(steps[0]!.context).call, { api: 'exec_shell', args: ['ls'], kwargs: {} });
    const phases = logs.map((l) => fields(l.context).phase);
    assert.ok(phases.includes('setup') && phases.includes('running') && phases.includes('evaluation'));
    assert.equal(env.cancelled, 1, 'cleanup runs once the episode is over');
  });

  it('stops at max_steps and still evaluates, with no solution', async () => {
    const { env, run } = setup(['ls', 'ls', 'ls', 'ls'], { maxSteps: 3 });
    const outcome = await run();
    const r = fields(outcome.status === 'completed' ? outcome.result : null);
    assert.equal(r.end_reason, 'max_steps');
    assert.equal(r.steps, 3);
    assert.equal(env.steps, 3);
  });

  it('retries a transient LLM error with backoff, then goes on', async () => {
    const { logs, run, agent } = setup([transient(429), transient(503), 'submit'], { retries: 2 });
    const outcome = await run();
    assert.equal(outcome.status, 'completed');
    assert.equal(fields(outcome.status === 'completed' ? outcome.result : null).usage.llm_retries, 2);
    assert.deepEqual(agent.inputs, Array(3).fill('Please take the next action'));
    assert.equal(logs.filter((l) => l.level === 'warning' && /retry \d\/2/.test(l.message)).length, 2);
  });

  it('fails with llm_error, retryable, once the retries are used up', async () => {
    const { run } = setup([transient(500), transient(500), transient(500)], { retries: 2 });
    const outcome = await run();
    assert.equal(outcome.status, 'failed');
    if (outcome.status !== 'failed') return;
    assert.equal(outcome.error.reason, 'llm_error');
    assert.equal(outcome.retryable, true);
    assert.equal(fields(outcome.error).llm_error.status, 500);
  });

  it('does not retry an error that will not pass (a 400)', async () => {
    const bad = new LlmCallError('HTTP 400', {
      status: 400,
      code: 'model_not_configured',
      type: null,
      detail: 'no key',
      retryable: false,
    });
    const { run, agent } = setup([bad, 'submit']);
    const outcome = await run();
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.status === 'failed' && outcome.retryable, false);
    assert.equal(agent.inputs.length, 1);
  });

  it('turns an EnvironmentError into its code', async () => {
    const env = new ToyEnvironment();
    env.start = async () => {
      throw new EnvironmentError('setup_failed', 'cluster not ready', true);
    };
    const { run } = setup(['submit'], { env });
    const outcome = await run();
    assert.equal(outcome.status, 'failed');
    if (outcome.status !== 'failed') return;
    assert.equal(outcome.error.reason, 'setup_failed');
    assert.equal(outcome.retryable, true);
    assert.equal(env.cancelled, 1);
  });

  it('an abort during a step ends the episode at once, and the environment is cleaned up', async () => {
    const env = new ToyEnvironment(
      (signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    );
    const { run, abort } = setup(['ls', 'submit'], { env });
    const running = run();
    setTimeout(() => abort.abort(new Error('cancel')), 20);
    const outcome = await running;
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.status === 'failed' && outcome.error.reason, 'stopped');
    assert.equal(env.cancelled, 1);
  });

  it('keeps a large trace out of the result whole only up to its budget, and says it cut it', () => {
    const small = [{ role: 'env' as const, content: 'x'.repeat(100) }];
    assert.deepEqual(boundedTrace(small), { trace: small });
    const big = Array.from({ length: 10 }, () => ({ role: 'env' as const, content: 'y'.repeat(100_000) }));
    const bounded = fields(boundedTrace(big));
    assert.equal(bounded.trace_truncated, true);
    assert.equal(bounded.trace.length, 10);
    const size = JSON.stringify(bounded.trace).length;
    assert.ok(size < TRACE_RESULT_MAX_CHARS * 1.1, `trace of ${size} chars`);
    assert.match(bounded.trace[0].content, /…\[\d+ more chars\]$/);
  });
});
