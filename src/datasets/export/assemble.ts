/**
 * Rows → trajectory records: one record per attempt of each finished task, in the order of the
 * task's finish cursor, attempts ascending. Pure: store.ts reads, this shapes.
 *
 * An attempt before the last ended in a requeue or a release; its status, worker, times and
 * error come from the server's own log lines for that attempt (claimed, requeued, released),
 * written in the same statement as the transition. The last attempt takes the task's fields.
 */
import { unpackFloat64s, unpackInt32s } from '../../db/packed-numbers.ts';
import { decodeText, fromStoredJson } from '../../db/text-codec.ts';
import { type Task, toTask } from '../../queue/index.ts';
import { formatCursor } from '../cursor.ts';
import {
  type ExportCall,
  type ExportConversation,
  type ExportMessage,
  type ExportStep,
  TRAJECTORY_SCHEMA_VERSION,
  type TrajectoryRecord,
} from './record.ts';
import type { PageDetails, Row } from './store.ts';

const iso = (v: unknown): string | null =>
  v == null ? null : v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
const num = (v: unknown): number => Number(v ?? 0);
const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));
const text = (v: unknown): string | null => (v == null ? null : decodeText(v as string));
const json = (v: unknown): unknown => fromStoredJson(v ?? null);
const seconds = (from: string | null, to: string | null): number | null =>
  from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : null;

/** Groups rows by a key, keeping each group's order. */
function groupBy(rows: readonly Row[], key: (r: Row) => string): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

const attemptKey = (taskId: unknown, attempt: unknown) => `${taskId}/${attempt}`;

function toMessage(r: Row): ExportMessage {
  return {
    seq: num(r.seq),
    parent_seq: numOrNull(r.parent_seq),
    role: decodeText(r.role as string),
    content: json(r.content),
    tool_calls: json(r.tool_calls),
    tool_call_id: text(r.tool_call_id),
    name: text(r.name),
  };
}

/** A packed column (migration 0013): a Buffer from node-postgres, a Uint8Array from PGlite. */
const int32s = (v: unknown): number[] | null => (v instanceof Uint8Array ? unpackInt32s(v) : null);
// Logprobs are null where an entry had none, as the export always wrote them.
const float64s = (v: unknown): number[] | null =>
  v instanceof Uint8Array ? (unpackFloat64s(v) as number[]) : null;

function toCall(r: Row): ExportCall {
  return {
    seq: num(r.seq),
    model_requested: r.model_requested as string,
    model: (r.model as string | null) ?? null,
    upstream: r.upstream as string,
    request: json(r.request),
    prompt_last_seq: numOrNull(r.prompt_last_seq),
    reply_seq: numOrNull(r.reply_seq),
    prefix_consistent: Boolean(r.prefix_consistent),
    finish_reasons: json(r.finish_reasons),
    end_reason: r.end_reason as string,
    status: numOrNull(r.status),
    error: text(r.error),
    usage: json(r.usage),
    prompt_tokens: numOrNull(r.prompt_tokens),
    completion_tokens: numOrNull(r.completion_tokens),
    cached_tokens: numOrNull(r.cached_tokens),
    reasoning_tokens: numOrNull(r.reasoning_tokens),
    cost: numOrNull(r.cost),
    latency_ms: numOrNull(r.latency_ms),
    ttft_ms: numOrNull(r.ttft_ms),
    policy_version: numOrNull(r.policy_version),
    started_at: iso(r.started_at)!,
    completed_at: iso(r.completed_at)!,
    prompt_token_ids: int32s(r.prompt_token_ids),
    completion_token_ids: int32s(r.completion_token_ids),
    completion_logprobs: float64s(r.completion_logprobs),
  };
}

function toConversation(r: Row, messages: Row[], calls: Row[]): ExportConversation {
  return {
    id: r.id as string,
    conversation_key: (r.conversation_key as string | null) ?? null,
    model_name: (r.model_name as string | null) ?? null,
    started_at: iso(r.started_at)!,
    ended_at: iso(r.ended_at),
    prompt_tokens: num(r.prompt_tokens),
    completion_tokens: num(r.completion_tokens),
    total_tokens: num(r.total_tokens),
    cost: numOrNull(r.cost),
    messages: messages.map(toMessage),
    calls: calls.map(toCall),
  };
}

function toStep(r: Row): ExportStep {
  return {
    timestamp: iso(r.timestamp)!,
    level: r.level as string,
    message: decodeText(r.message as string),
    context: json(r.context),
    source: r.source as string,
  };
}

/** What the server's log says about an attempt that was not the last. */
interface EarlierAttempt {
  status: string;
  worker_id: string | null;
  started_at: string | null;
  completed_at: string | null;
  error: unknown;
}

function earlierAttempt(steps: readonly Row[]): EarlierAttempt {
  const server = steps.filter((s) => s.source === 'server');
  const event = (s: Row) => (json(s.context) as { event?: string } | null)?.event;
  const claimed = server.find((s) => event(s) === 'claimed');
  const ended = [...server].reverse().find((s) => event(s) === 'requeued' || event(s) === 'released');
  const context = (ended ? json(ended.context) : null) as Record<string, unknown> | null;
  const worker = (claimed ? (json(claimed.context) as Record<string, unknown>) : null)?.worker_id;
  return {
    status: (ended && event(ended)) ?? 'requeued',
    worker_id: typeof worker === 'string' ? worker : null,
    started_at: claimed ? iso(claimed.timestamp) : null,
    completed_at: ended ? iso(ended.timestamp) : null,
    error: ended ? { reason: context?.reason ?? null, message: decodeText(ended.message as string) } : null,
  };
}

/** The newest value of each named reward, and the whole history. */
function rewardFields(rows: readonly Row[]) {
  const history = rows.map((r) => ({
    name: r.name as string,
    value: Number(r.value),
    details: json(r.details),
    written_by: r.written_by as string,
    created_at: iso(r.created_at)!,
  }));
  const newest: Record<string, number> = {};
  for (const h of history) newest[h.name] = h.value;
  return { rewards: newest, reward_history: history };
}

/** The evaluation inside a stored result (AIOpsLab's results dict), else null. */
function evaluation(result: Task['result']): unknown {
  if (result && typeof result === 'object' && !Array.isArray(result) && 'results' in result)
    return result.results ?? null;
  return null;
}

export interface AssembleOptions {
  attempts: 'all' | 'final';
}

/**
 * The records of a page of finished tasks (rows from readFinishedTasks), in order, each built
 * when it is asked for: a record's unpacked token ids (megabytes for a long trajectory) are
 * garbage once it is written, instead of living as long as the page's last record.
 */
export function* assembleRecords(
  taskRows: readonly Row[],
  details: PageDetails,
  options: AssembleOptions,
): Generator<TrajectoryRecord> {
  const conversations = groupBy(details.conversations, (r) => attemptKey(r.task_id, r.attempt));
  const messages = groupBy(details.messages, (r) => r.conversation_id as string);
  const calls = groupBy(details.calls, (r) => r.conversation_id as string);
  const steps = groupBy(details.logs, (r) => attemptKey(r.task_id, r.attempt));
  const rewards = groupBy(details.rewards, (r) => r.task_id as string);
  for (const row of taskRows) {
    const task = toTask(row);
    const cursor = formatCursor({
      txid: BigInt(row.event_txid as string),
      id: BigInt(row.event_id as string),
    });
    const rewardInfo = rewardFields(rewards.get(task.id) ?? []);
    const first = options.attempts === 'final' ? task.attempt : 1;
    for (let attempt = first; attempt <= task.attempt; attempt++) {
      const key = attemptKey(task.id, attempt);
      const attemptSteps = steps.get(key) ?? [];
      const final = attempt === task.attempt;
      const earlier = final ? null : earlierAttempt(attemptSteps);
      const startedAt = earlier ? earlier.started_at : task.started_at;
      const completedAt = earlier ? earlier.completed_at : task.completed_at;
      yield {
        schema_version: TRAJECTORY_SCHEMA_VERSION,
        cursor,
        task_id: task.id,
        attempt,
        attempts: task.attempt,
        final,
        problem_id: task.problem_id,
        task_type: taskType(task),
        backend_type: task.backend_type,
        worker_id: earlier ? earlier.worker_id : task.worker_id,
        status: earlier ? earlier.status : task.status,
        error: earlier ? earlier.error : task.error_info,
        experiment_id: task.experiment_id,
        group_id: task.group_id,
        repetition: task.repetition,
        policy_version: task.policy_version,
        labels: task.labels,
        agent_config: task.parameters.agent_config ?? null,
        created_at: task.created_at,
        started_at: startedAt,
        completed_at: completedAt,
        queue_seconds: attempt === 1 ? seconds(task.created_at, startedAt) : null,
        run_seconds: seconds(startedAt, completedAt),
        results: final ? evaluation(task.result) : null,
        result: final ? task.result : null,
        reward: final ? task.reward : null,
        reward_reason: final
          ? task.reward_reason
          : `attempt ${attempt} was not the last (${earlier?.status})`,
        // Rewards score the task, so they ride on its last attempt.
        ...(final ? rewardInfo : { rewards: {}, reward_history: [] }),
        conversations: (conversations.get(key) ?? []).map((c) =>
          toConversation(c, messages.get(c.id as string) ?? [], calls.get(c.id as string) ?? []),
        ),
        steps: attemptSteps.map(toStep),
      };
    }
  }
}

/** The task type the environment reported, else the one asked for in the task's parameters. */
function taskType(task: Task): string | null {
  const r = task.result;
  if (r && typeof r === 'object' && !Array.isArray(r) && typeof r.task_type === 'string') return r.task_type;
  const p = task.parameters as Record<string, unknown>;
  return typeof p.task_type === 'string' ? p.task_type : null;
}
