/**
 * `tokens.jsonl`: one line per conversation of an attempt, as the exact tokens the policy saw
 * and sampled, for RL trainers that must not re-tokenize text (verl/slime token-in-token-out,
 * rLLM's non-accumulative trajectories, NeMo Gym's on-policy token corrections): re-rendering
 * the chat template over the text can give other ids than the model saw, and a policy-gradient
 * step on tokens the policy never produced is off-policy noise.
 *
 * Assembly: the first usable call's prompt ids are `prompt_ids`; each usable call must then
 * see, as the start of its prompt, the previous call's prompt + completion. The ids after that
 * (tool results, user turns, template glue) join `response_ids` with mask 0, the call's own
 * completion with mask 1. A prompt that does not extend the context (a rewritten history, a
 * truncation, a template that re-renders past turns) is a drift: assembly stops before that
 * call rather than splice two contexts the model never saw as one.
 */
import type { ExportCall, ExportConversation, TrajectoryRecord } from './record.ts';
import type { TokenLine } from './token-types.ts';

const NO_IDS_NOTE =
  'no token ids recorded: the upstream did not return them (for vLLM upstreams set ' +
  '"return_token_ids": true, and "logprobs": true for logprobs, in its LLM_UPSTREAMS entry)';

/** What assembly produced for one conversation, before it is dressed as a TokenLine. */
interface Assembly {
  token_ids_recorded: boolean;
  notes: string[];
  prompt_ids: number[] | null;
  response_ids: number[] | null;
  response_mask: number[] | null;
  response_logprobs: number[] | null;
  token_consistent: boolean | null;
  drift: TokenLine['drift'];
  calls_used: number;
}

export const tokenLines = (record: TrajectoryRecord): TokenLine[] =>
  record.conversations.map((c) => tokenLine(record, c));

function tokenLine(record: TrajectoryRecord, conversation: ExportConversation): TokenLine {
  const calls = [...conversation.calls].sort((a, b) => a.seq - b.seq);
  const a = assemble(calls);
  const last = calls.at(-1);
  return {
    schema_version: record.schema_version,
    cursor: record.cursor,
    task_id: record.task_id,
    attempt: record.attempt,
    conversation_id: conversation.id,
    conversation_key: conversation.conversation_key,
    model: conversation.model_name ?? last?.model ?? last?.model_requested ?? null,
    policy_version: record.policy_version ?? last?.policy_version ?? null,
    reward: record.reward,
    status: record.status,
    token_ids_recorded: a.token_ids_recorded,
    note: a.notes.length > 0 ? a.notes.join('; ') : null,
    prompt_ids: a.prompt_ids,
    response_ids: a.response_ids,
    response_mask: a.response_mask,
    response_logprobs: a.response_logprobs,
    token_consistent: a.token_consistent,
    drift: a.drift,
    calls_used: a.calls_used,
    calls_total: calls.length,
  };
}

const noIds = (recorded: boolean, note: string, notes: string[] = []): Assembly => ({
  token_ids_recorded: recorded,
  notes: [...notes, note],
  prompt_ids: null,
  response_ids: null,
  response_mask: null,
  response_logprobs: null,
  token_consistent: null,
  drift: null,
  calls_used: 0,
});

/**
 * A call whose sampled tokens belong in a trajectory: it finished (`done`) with completion
 * ids. Errored calls have none; a cut stream has a partial completion the agent usually
 * retried from the same prompt, so taking it would turn every retry into a drift.
 */
const usable = (c: ExportCall) => c.completion_token_ids !== null && c.end_reason === 'done';

function assemble(calls: ExportCall[]): Assembly {
  const recorded = calls.some((c) => c.prompt_token_ids !== null || c.completion_token_ids !== null);
  if (!recorded) return noIds(false, NO_IDS_NOTE);
  const used = calls.filter(usable);
  const notes: string[] = [];
  const skipped = calls.filter((c) => !usable(c)).map((c) => c.seq);
  if (skipped.length > 0)
    notes.push(`calls ${skipped.join(', ')} skipped: errored, cut or without completion ids`);
  if (used.length === 0) return noIds(true, 'no call finished with completion token ids', notes);
  // Without a call's prompt ids its context cannot be checked, and a trainer cannot tell
  // which tokens the model saw; a partial line would hide that, so no ids at all.
  if (!used.every(hasIds)) {
    const blind = used.find((c) => !hasIds(c))!;
    return noIds(true, `call ${blind.seq} has completion ids but no prompt ids: cannot assemble`, notes);
  }
  return { ...walk(used, notes), token_ids_recorded: true };
}

type WithIds = ExportCall & { prompt_token_ids: number[]; completion_token_ids: number[] };

const hasIds = (c: ExportCall): c is WithIds =>
  c.prompt_token_ids !== null && c.completion_token_ids !== null;

/**
 * The running-context walk over usable calls that all have prompt and completion ids. Plain
 * loops, no spread: a call can add more ids than a spread call's arguments fit on the stack
 * (~130k: a long tool output under a long-context model), and the context (the last prompt and
 * its completion) is compared in place instead of copied for every call.
 */
function walk(used: WithIds[], notes: string[]): Omit<Assembly, 'token_ids_recorded'> {
  const first = used[0]!;
  const ids: number[] = [];
  const mask: number[] = [];
  const logprobs: number[] = [];
  let logprobsOk = true;
  // The context the next prompt must extend: the previous call's prompt, then its completion.
  let contextPrompt: number[] = first.prompt_token_ids;
  let contextCompletion: number[] = [];
  let drift: TokenLine['drift'] = null;
  let count = 0;
  for (const call of used) {
    const prompt = call.prompt_token_ids;
    const position = divergence(contextPrompt, contextCompletion, prompt);
    if (position !== null) {
      drift = { call_seq: call.seq, position };
      notes.push(
        `call ${call.seq}'s prompt does not extend the previous context at token ${position}: ` +
          `response ids stop before it`,
      );
      break;
    }
    const contextLength = contextPrompt.length + contextCompletion.length;
    for (let i = contextLength; i < prompt.length; i++) {
      ids.push(prompt[i]!);
      mask.push(0);
    }
    const completion = call.completion_token_ids;
    for (let i = 0; i < completion.length; i++) {
      ids.push(completion[i]!);
      mask.push(1);
    }
    logprobsOk = appendLogprobs(logprobs, call, prompt.length - contextLength, notes) && logprobsOk;
    contextPrompt = prompt;
    contextCompletion = completion;
    count++;
  }
  return {
    notes,
    prompt_ids: first.prompt_token_ids,
    response_ids: ids,
    response_mask: mask,
    response_logprobs: logprobsOk ? logprobs : null,
    token_consistent: drift === null,
    drift,
    calls_used: count,
  };
}

/**
 * Where `prompt` stops extending the context (`head` then `tail`): the first differing index,
 * or its length if shorter.
 */
function divergence(head: number[], tail: number[], prompt: number[]): number | null {
  const contextLength = head.length + tail.length;
  const n = Math.min(contextLength, prompt.length);
  const inHead = Math.min(n, head.length);
  for (let i = 0; i < inHead; i++) if (head[i] !== prompt[i]) return i;
  for (let i = inHead; i < n; i++) if (tail[i - head.length] !== prompt[i]) return i;
  return prompt.length < contextLength ? prompt.length : null;
}

/**
 * Appends a call's logprobs (0 on the environment's tokens before them). False when they are
 * missing or misaligned: the line then carries no logprobs at all, never a partial array a
 * trainer would read as aligned.
 */
function appendLogprobs(out: number[], call: WithIds, envTokens: number, notes: string[]): boolean {
  const lp = call.completion_logprobs;
  if (lp === null) {
    notes.push(`call ${call.seq} has no logprobs: response_logprobs omitted`);
    return false;
  }
  if (lp.length !== call.completion_token_ids.length) {
    notes.push(
      `call ${call.seq} has ${lp.length} logprobs for ${call.completion_token_ids.length} tokens: ` +
        `response_logprobs omitted`,
    );
    return false;
  }
  for (let i = 0; i < envTokens; i++) out.push(0);
  for (let i = 0; i < lp.length; i++) out.push(lp[i]!);
  return true;
}
