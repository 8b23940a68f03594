/**
 * The export benchmark's dataset in a real database (issue 13): the generator's trajectories
 * (bench/export-data.ts) written into the tables the gateway, the queue and the rewards write,
 * so GET /api/v1/export reads back records equivalent to the generated ones. Tasks go in as
 * finished rows, so the feed's insert trigger files the task.status event the export orders by
 * (and the counter triggers count them) exactly as for the queue's own writes; nothing is
 * disabled. Every tenth task is stored as failed (no result, an error record), as in a real
 * run: its conversation and steps are exported all the same.
 *
 * Fast: one multi-row INSERT … SELECT FROM jsonb_to_recordset per table per batch of tasks
 * (one transaction per batch), never a row per statement. The JSON documents are the bulk
 * (~300 KB a trajectory, most of it token ids, which go both in the response and in the call's
 * token columns, as the recorder writes them), so a batch is sized by tasks, not rows.
 */

import type { ExportCall, ExportConversation, TrajectoryRecord } from '../src/datasets/export/record.ts';
import { packFloat64s, packInt32s } from '../src/db/packed-numbers.ts';
import { toStoredJson } from '../src/db/text-codec.ts';
import type { Db, Queryable } from '../src/db/types.ts';
import { generateTrajectories } from './export-data.ts';

export const SEED_BATCH_TASKS = 200;
const FAILED_EVERY = 10;

export interface SeedFigures {
  trajectories: number;
  seconds: number;
  database_mb: number;
}

type Doc = Record<string, unknown>;

interface Batch {
  tasks: Doc[];
  conversations: Doc[];
  messages: Doc[];
  calls: Doc[];
  logs: Doc[];
  rewards: Doc[];
}

const emptyBatch = (): Batch => ({
  tasks: [],
  conversations: [],
  messages: [],
  calls: [],
  logs: [],
  rewards: [],
});

function taskDoc(r: TrajectoryRecord, index: number): Doc {
  const failed = index % FAILED_EVERY === FAILED_EVERY - 1;
  return {
    id: r.task_id,
    problem_id: r.problem_id,
    status: failed ? 'failed' : r.status,
    backend_type: r.backend_type,
    parameters: {
      task_type: r.task_type,
      max_steps: 30,
      timeout_minutes: 30,
      agent_config: r.agent_config,
      labels: r.labels,
    },
    worker_id: r.worker_id,
    attempt: r.attempt,
    // AIOpsLab's shape: the task type and the evaluation dict (the record's `results`).
    result: failed ? null : { task_type: r.task_type, results: r.results },
    error_details: failed ? { reason: 'episode_error', message: 'the environment stopped answering' } : null,
    experiment_id: r.experiment_id,
    group_id: r.group_id,
    repetition: r.repetition,
    policy_version: r.policy_version,
    created_at: r.created_at,
    started_at: r.started_at,
    completed_at: r.completed_at,
  };
}

/** The upstream's response as the recorder keeps it: vLLM's token ids and sampled logprobs. */
function responseDoc(call: ExportCall, reply: { content: unknown; tool_calls: unknown } | undefined): Doc {
  const choice: Doc = {
    index: 0,
    message: { role: 'assistant', content: reply?.content ?? null, tool_calls: reply?.tool_calls ?? null },
    finish_reason: call.end_reason,
  };
  if (call.completion_token_ids) choice.token_ids = call.completion_token_ids;
  if (call.completion_logprobs)
    choice.logprobs = {
      content: call.completion_logprobs.map((logprob, k) => ({
        token: `t${call.completion_token_ids?.[k] ?? k}`,
        logprob,
      })),
    };
  const response: Doc = {
    id: `chatcmpl-${call.seq}`,
    object: 'chat.completion',
    model: call.model,
    choices: [choice],
    usage: call.usage,
  };
  if (call.prompt_token_ids) response.prompt_token_ids = call.prompt_token_ids;
  return response;
}

/** A bytea as jsonb_to_recordset reads it from a JSON string. */
const byteaText = (bytes: Buffer) => `\\x${bytes.toString('hex')}`;

function callDoc(r: TrajectoryRecord, c: ExportConversation, call: ExportCall): Doc {
  const reply = c.messages.find((m) => m.seq === call.reply_seq);
  // The token fields go in the response and in their columns, as the recorder writes them.
  const { prompt_token_ids, completion_token_ids, completion_logprobs, ...columns } = call;
  return {
    ...columns,
    prompt_token_ids: prompt_token_ids && byteaText(packInt32s(prompt_token_ids)),
    completion_token_ids: completion_token_ids && byteaText(packInt32s(completion_token_ids)),
    completion_logprobs: completion_logprobs && byteaText(packFloat64s(completion_logprobs)),
    conversation_id: c.id,
    task_id: r.task_id,
    attempt: r.attempt,
    prompt_message_count: call.prompt_last_seq,
    first_new_seq: call.prompt_last_seq,
    total_tokens: (call.prompt_tokens ?? 0) + (call.completion_tokens ?? 0),
    response: responseDoc(call, reply),
    has_token_ids: prompt_token_ids !== null || completion_token_ids !== null,
    has_logprobs: completion_logprobs !== null,
  };
}

function addRecord(b: Batch, r: TrajectoryRecord, index: number): void {
  b.tasks.push(taskDoc(r, index));
  for (const c of r.conversations) {
    const { messages, calls, ...columns } = c;
    b.conversations.push({
      ...columns,
      task_id: r.task_id,
      attempt: r.attempt,
      message_count: messages.length,
      call_count: calls.length,
      head_seq: messages.at(-1)?.seq ?? null,
      head_depth: messages.length,
    });
    // A chain (each message's parent is the one before), so a message's depth is its seq.
    for (const m of messages) b.messages.push({ ...m, conversation_id: c.id, depth: m.seq });
    for (const call of calls) b.calls.push(callDoc(r, c, call));
  }
  for (const s of r.steps) b.logs.push({ ...s, task_id: r.task_id, attempt: r.attempt });
  for (const h of r.reward_history) b.rewards.push({ ...h, task_id: r.task_id });
}

// Column lists of jsonb_to_recordset: what each INSERT takes from the batch's documents.
const INSERT_TASKS = `
INSERT INTO tasks (id, problem_id, status, backend_type, parameters, worker_id, attempt, result,
                   error_details, experiment_id, group_id, repetition, policy_version, created_at,
                   updated_at, started_at, completed_at)
SELECT id, problem_id, status, backend_type, parameters, worker_id, attempt, result, error_details,
       experiment_id, group_id, repetition, policy_version, created_at, completed_at, started_at, completed_at
FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, problem_id text, status text, backend_type text,
     parameters jsonb, worker_id text, attempt int, result jsonb, error_details jsonb, experiment_id uuid,
     group_id uuid, repetition int, policy_version bigint, created_at timestamptz, started_at timestamptz,
     completed_at timestamptz)`;

const INSERT_CONVERSATIONS = `
INSERT INTO llm_conversations (id, task_id, attempt, conversation_key, model_name, started_at, ended_at,
                               message_count, call_count, prompt_tokens, completion_tokens, total_tokens,
                               cost, head_seq, head_depth)
SELECT id, task_id, attempt, conversation_key, model_name, started_at, ended_at, message_count, call_count,
       prompt_tokens, completion_tokens, total_tokens, cost, head_seq, head_depth
FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, task_id uuid, attempt int, conversation_key text,
     model_name text, started_at timestamptz, ended_at timestamptz, message_count int, call_count int,
     prompt_tokens bigint, completion_tokens bigint, total_tokens bigint, cost float8, head_seq int,
     head_depth int)`;

const INSERT_MESSAGES = `
INSERT INTO llm_messages (conversation_id, seq, parent_seq, depth, role, content, tool_calls, tool_call_id, name)
SELECT conversation_id, seq, parent_seq, depth, role, content, tool_calls, tool_call_id, name
FROM jsonb_to_recordset($1::jsonb) AS x(conversation_id uuid, seq int, parent_seq int, depth int, role text,
     content jsonb, tool_calls jsonb, tool_call_id text, name text)`;

const INSERT_CALLS = `
INSERT INTO llm_calls (conversation_id, task_id, attempt, seq, upstream, model_requested, model, stream,
  request, prompt_message_count, prompt_last_seq, first_new_seq, reply_seq, prefix_consistent, response,
  finish_reasons, status, end_reason, error, usage, prompt_tokens, completion_tokens, total_tokens,
  cached_tokens, reasoning_tokens, has_token_ids, has_logprobs, cost, latency_ms, ttft_ms, started_at,
  completed_at, policy_version, prompt_token_ids, completion_token_ids, completion_logprobs)
SELECT conversation_id, task_id, attempt, seq, upstream, model_requested, model, false, request,
  prompt_message_count, prompt_last_seq, first_new_seq, reply_seq, prefix_consistent, response,
  finish_reasons, status, end_reason, error, usage, prompt_tokens, completion_tokens, total_tokens,
  cached_tokens, reasoning_tokens, has_token_ids, has_logprobs, cost, latency_ms, ttft_ms, started_at,
  completed_at, policy_version, prompt_token_ids, completion_token_ids, completion_logprobs
FROM jsonb_to_recordset($1::jsonb) AS x(conversation_id uuid, task_id uuid, attempt int, seq int,
  upstream text, model_requested text, model text, request jsonb, prompt_message_count int,
  prompt_last_seq int, first_new_seq int, reply_seq int, prefix_consistent boolean, response jsonb,
  finish_reasons jsonb, status int, end_reason text, error text, usage jsonb, prompt_tokens int,
  completion_tokens int, total_tokens int, cached_tokens int, reasoning_tokens int, has_token_ids boolean,
  has_logprobs boolean, cost float8, latency_ms float8, ttft_ms float8, started_at timestamptz,
  completed_at timestamptz, policy_version bigint, prompt_token_ids bytea, completion_token_ids bytea,
  completion_logprobs bytea)`;

const INSERT_LOGS = `
INSERT INTO task_logs (task_id, timestamp, level, message, context, source, attempt)
SELECT task_id, timestamp, level, message, context, source, attempt
FROM jsonb_to_recordset($1::jsonb) AS x(task_id uuid, timestamp timestamptz, level text, message text,
     context jsonb, source text, attempt int)`;

const INSERT_REWARDS = `
INSERT INTO task_rewards (task_id, name, value, details, written_by, created_at)
SELECT task_id, name, value, details, written_by, created_at
FROM jsonb_to_recordset($1::jsonb) AS x(task_id uuid, name text, value float8, details jsonb,
     written_by text, created_at timestamptz)`;

/** Parents first (foreign keys); each table one statement for the whole batch. */
async function writeBatch(tx: Queryable, b: Batch): Promise<void> {
  for (const [sql, docs] of [
    [INSERT_TASKS, b.tasks],
    [INSERT_CONVERSATIONS, b.conversations],
    [INSERT_MESSAGES, b.messages],
    [INSERT_CALLS, b.calls],
    [INSERT_LOGS, b.logs],
    [INSERT_REWARDS, b.rewards],
  ] as const)
    if (docs.length > 0) await tx.query(sql, [toStoredJson(docs)]);
}

/** The experiment every generated task belongs to (tasks.experiment_id is a foreign key). */
async function ensureExperiments(db: Db, first: TrajectoryRecord | undefined): Promise<void> {
  if (!first?.experiment_id) return;
  await db.query(
    `INSERT INTO experiments (id, name, spec, task_count, group_count)
     VALUES ($1, 'export-bench', '{}'::jsonb, 0, 0) ON CONFLICT (id) DO NOTHING`,
    [first.experiment_id],
  );
}

/**
 * Writes `trajectories` generated records into a migrated, empty database. Progress goes to
 * stderr every tenth batch; the figures say how long it took and how large the database is.
 */
export async function seedExportDataset(
  db: Db,
  trajectories: number,
  batchTasks = SEED_BATCH_TASKS,
): Promise<SeedFigures> {
  const t0 = performance.now();
  let batch = emptyBatch();
  let index = 0;
  let batches = 0;
  const flush = async () => {
    const b = batch;
    batch = emptyBatch();
    await db.transaction((tx) => writeBatch(tx, b));
    if (++batches % 10 === 0)
      process.stderr.write(
        `export seed: ${index}/${trajectories} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
      );
  };
  for (const record of generateTrajectories({ trajectories })) {
    if (index === 0) await ensureExperiments(db, record);
    addRecord(batch, record, index++);
    if (batch.tasks.length >= batchTasks) await flush();
  }
  if (batch.tasks.length > 0) await flush();
  const seconds = (performance.now() - t0) / 1000;
  const { rows } = await db.query<{ bytes: string }>(
    'SELECT pg_database_size(current_database())::text AS bytes',
  );
  return { trajectories, seconds, database_mb: Number(rows[0]?.bytes ?? 0) / 1e6 };
}
