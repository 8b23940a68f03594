/**
 * `atif.jsonl`: one ATIF v1.4 trajectory (Harbor's Agent Trajectory Interchange Format) per
 * trajectory record, i.e. per task attempt, so Harbor's viewers, validators and SFT/RL
 * pipelines read our episodes as their own.
 *
 * Mapping choices (ATIF is one linear agent run; a record may hold several conversations):
 * - session_id is `<task_id>-attempt-<n>`; our ids, the reward and the evaluation go in the
 *   root `extra`.
 * - each conversation's final branch becomes steps (see atif-steps.ts), conversations one after
 *   the other in record order; every step's extra names its conversation and message.
 * - final_metrics count every call of the attempt — errored ones and those on branches a
 *   rewritten history left — since they were paid for; `notes` says when some are not steps.
 * - ATIF requires at least one step: an attempt that made no LLM call gets one empty system
 *   step, so every record still has its document (and its reward) in the file.
 */
import { readFileSync } from 'node:fs';
import { conversationSteps } from './atif-steps.ts';
import {
  ATIF_VERSION,
  type AtifAgent,
  type AtifFinalMetrics,
  type AtifStep,
  type AtifTrajectory,
} from './atif-types.ts';
import type { LineConverter } from './format-types.ts';
import type { ExportCall, TrajectoryRecord } from './record.ts';

const VERSION: string = JSON.parse(
  readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
).version;

export const atifDocuments: LineConverter = (record) => [atifDocument(record)];

export function atifDocument(record: TrajectoryRecord): AtifTrajectory {
  const steps: AtifStep[] = [];
  for (const c of record.conversations) steps.push(...conversationSteps(c, steps.length + 1));
  const calls = record.conversations.flatMap((c) => c.calls);
  const notes = documentNotes(record, steps, calls);
  if (steps.length === 0)
    steps.push({
      step_id: 1,
      source: 'system',
      message: '',
      extra: { note: 'no LLM conversation recorded' },
    });
  const doc: AtifTrajectory = {
    schema_version: ATIF_VERSION,
    session_id: `${record.task_id}-attempt-${record.attempt}`,
    agent: agent(record),
    steps,
    final_metrics: finalMetrics(calls, steps.length),
    extra: recordExtra(record),
  };
  if (notes.length > 0) doc.notes = notes.join(' ');
  return doc;
}

function agent(record: TrajectoryRecord): AtifAgent {
  const a: AtifAgent = { name: 'task-executor', version: VERSION };
  const first = record.conversations[0];
  const model = first?.model_name ?? first?.calls[0]?.model ?? first?.calls[0]?.model_requested;
  if (model) a.model_name = model;
  if (record.agent_config !== null && record.agent_config !== undefined)
    a.extra = { agent_config: record.agent_config };
  return a;
}

function documentNotes(record: TrajectoryRecord, steps: AtifStep[], calls: ExportCall[]): string[] {
  const notes: string[] = [];
  if (steps.length === 0) notes.push('No LLM conversation was recorded for this attempt.');
  if (record.conversations.length > 1)
    notes.push(
      `${record.conversations.length} conversations, one after the other; ` +
        "each step's extra.conversation_id says which.",
    );
  const asSteps = steps.filter((s) => s.extra?.call_seq !== undefined).length;
  if (asSteps < calls.length)
    notes.push(
      `${calls.length - asSteps} of ${calls.length} calls are not steps (no reply, or a reply on a ` +
        'branch the conversation later rewrote); final_metrics count them all.',
    );
  return notes;
}

/** Totals over every call of the attempt; a total is left out when no call reported it. */
function finalMetrics(calls: ExportCall[], steps: number): AtifFinalMetrics {
  const total = (pick: (c: ExportCall) => number | null) => {
    const values = calls.map(pick).filter((v): v is number => v !== null);
    return values.length === 0 ? undefined : values.reduce((s, v) => s + v, 0);
  };
  const m: AtifFinalMetrics = { total_steps: steps };
  const prompt = total((c) => c.prompt_tokens);
  const completion = total((c) => c.completion_tokens);
  const cached = total((c) => c.cached_tokens);
  const cost = total((c) => c.cost);
  if (prompt !== undefined) m.total_prompt_tokens = prompt;
  if (completion !== undefined) m.total_completion_tokens = completion;
  if (cached !== undefined) m.total_cached_tokens = cached;
  if (cost !== undefined) m.total_cost_usd = cost;
  m.extra = { calls: calls.length };
  return m;
}

/** Our identification and outcome, for joining with the other formats and for RL. */
function recordExtra(r: TrajectoryRecord): Record<string, unknown> {
  return {
    cursor: r.cursor,
    task_id: r.task_id,
    attempt: r.attempt,
    attempts: r.attempts,
    final: r.final,
    problem_id: r.problem_id,
    task_type: r.task_type,
    status: r.status,
    reward: r.reward,
    reward_reason: r.reward_reason,
    rewards: r.rewards,
    results: r.results,
    experiment_id: r.experiment_id,
    group_id: r.group_id,
    repetition: r.repetition,
    policy_version: r.policy_version,
    labels: r.labels,
  };
}
