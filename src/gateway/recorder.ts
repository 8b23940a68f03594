/**
 * The write side of the conversation store: who may call (a running attempt's token), which
 * conversation a call lands on, and the append-only record of each call.
 *
 * Recording one call is one transaction of three statements whatever the conversation's
 * length: lock the conversation row (calls on one conversation serialise; its head says
 * what is already stored), at most one lookup when the prompt rewrote history, and one
 * statement that inserts the new messages and the call row and moves the totals and head.
 * Nothing already stored is read or rewritten, so appending message N costs the same for
 * N = 10 or 10,000 (measured in `npm run bench`).
 */
import type { Db, Queryable } from '../db/types.ts';
import { PrefixHasher, type StoredMessage } from './messages.ts';
import type { ResponseSummary } from './summary.ts';

export type EndReason = 'done' | 'client_cancelled' | 'upstream_error' | 'timeout';

export interface CallRecord {
  conversationId: string;
  taskId: string;
  attempt: number;
  upstream: string;
  modelRequested: string;
  stream: boolean;
  /** The request minus its messages. */
  request: Record<string, unknown>;
  injected: readonly string[];
  prompt: readonly StoredMessage[];
  response: Record<string, unknown> | null;
  summary: ResponseSummary;
  status: number | null;
  endReason: EndReason;
  error: string | null;
  cost: number | null;
  latencyMs: number;
  ttftMs: number | null;
  startedAt: Date;
  completedAt: Date;
}

export interface Recorded {
  seq: number;
  prefixConsistent: boolean;
  divergedAt: number | null;
  newMessages: number;
}

export type Authorization = { ok: true; conversationId: string } | { ok: false; why: string };

/** Why a token for this attempt is no longer valid, or null while the attempt runs. */
function attemptProblem(t: { status: string; attempt: number } | undefined, attempt: number): string | null {
  if (!t) return 'its task does not exist';
  if (t.status !== 'running') return 'its task is not running';
  if (t.attempt !== attempt) return 'its attempt has ended (the task was claimed again)';
  return null;
}

interface Head {
  message_count: number;
  call_count: number;
  head_seq: number | null;
  head_depth: number;
  head_hash: string | null;
}

interface MessageRow extends StoredMessage {
  seq: number;
  parent_seq: number | null;
  depth: number;
  prefix_hash: string;
}

export function createRecorder(db: Db) {
  return {
    /**
     * Checks that the token's attempt is the task's current, running one, and returns the
     * conversation the call lands on, creating it on the attempt's first call.
     */
    async authorize(
      taskId: string,
      attempt: number,
      key: string,
      firstCall: { model: string; config: Record<string, unknown> },
    ): Promise<Authorization> {
      const { rows } = await db.query<{
        status: string;
        attempt: number;
        problem_id: string;
        worker_id: string | null;
        conversation_id: string | null;
      }>(
        `SELECT t.status, t.attempt, t.problem_id, t.worker_id, c.id AS conversation_id
         FROM tasks t
         LEFT JOIN llm_conversations c ON c.task_id = t.id AND c.attempt = $2 AND c.conversation_key = $3
         WHERE t.id = $1`,
        [taskId, attempt, key],
      );
      const t = rows[0];
      const why = attemptProblem(t, attempt);
      if (why || !t) return { ok: false, why: why ?? '' };
      if (t.conversation_id) return { ok: true, conversationId: t.conversation_id };
      const metadata = { problem_id: t.problem_id, worker_id: t.worker_id, attempt };
      return {
        ok: true,
        conversationId: await createConversation(db, taskId, attempt, key, firstCall, metadata),
      };
    },

    /** Null while the attempt runs; otherwise why its token is no longer valid. */
    async attemptProblem(taskId: string, attempt: number): Promise<string | null> {
      const { rows } = await db.query<{ status: string; attempt: number }>(
        'SELECT status, attempt FROM tasks WHERE id = $1',
        [taskId],
      );
      return attemptProblem(rows[0], attempt);
    },

    async record(c: CallRecord): Promise<Recorded> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<Head>(
          `SELECT message_count, call_count, head_seq, head_depth, head_hash
           FROM llm_conversations WHERE id = $1 FOR UPDATE`,
          [c.conversationId],
        );
        const head = rows[0];
        if (!head) throw new Error(`conversation ${c.conversationId} vanished`);
        const plan = await planMessages(tx, c.conversationId, head, c.prompt, c.summary.reply);
        const seq = head.call_count + 1;
        await insertCall(tx, c, seq, plan);
        return {
          seq,
          prefixConsistent: plan.consistent,
          divergedAt: plan.divergedAt,
          newMessages: plan.rows.length,
        };
      });
    },
  };
}

export type Recorder = ReturnType<typeof createRecorder>;

async function createConversation(
  db: Queryable,
  taskId: string,
  attempt: number,
  key: string,
  first: { model: string; config: Record<string, unknown> },
  metadata: Record<string, unknown>,
): Promise<string> {
  // Two first calls can race (an agent running threads); the unique key picks one row.
  const inserted = await db.query<{ id: string }>(
    `INSERT INTO llm_conversations (task_id, attempt, conversation_key, session_id, model_name, model_config, metadata)
     VALUES ($1, $2, $3, $3, $4, $5, $6)
     ON CONFLICT (task_id, attempt, conversation_key) DO NOTHING
     RETURNING id`,
    [taskId, attempt, key, first.model, JSON.stringify(first.config), JSON.stringify(metadata)],
  );
  if (inserted.rows[0]) return inserted.rows[0].id;
  const { rows } = await db.query<{ id: string }>(
    'SELECT id FROM llm_conversations WHERE task_id = $1 AND attempt = $2 AND conversation_key = $3',
    [taskId, attempt, key],
  );
  return rows[0]!.id;
}

interface Plan {
  rows: MessageRow[];
  consistent: boolean;
  divergedAt: number | null;
  promptLastSeq: number | null;
  firstNewSeq: number | null;
  replySeq: number | null;
  head: { seq: number | null; depth: number; hash: string | null };
}

/**
 * Which of the prompt's messages are new, and where they hang. The fast path hashes the
 * prompt's first head_depth messages and compares with the stored head: equal means the
 * prompt extends the conversation and only its tail is new. Otherwise the deepest stored
 * message whose prefix hash the prompt shares is found in one indexed lookup, and the rest
 * of the prompt is stored under it.
 */
async function planMessages(
  tx: Queryable,
  conversationId: string,
  head: Head,
  prompt: readonly StoredMessage[],
  reply: StoredMessage | null,
): Promise<Plan> {
  let hasher = new PrefixHasher();
  let matched = 0;
  let parent: number | null = null;
  let consistent = true;
  let hashes: string[] | null = null;
  if (head.message_count > 0) {
    if (head.head_depth > 0 && prompt.length >= head.head_depth) {
      for (let i = 0; i < head.head_depth; i++) hasher.push(prompt[i]!);
    }
    if (hasher.depth > 0 && hasher.current() === head.head_hash) {
      matched = head.head_depth;
      parent = head.head_seq;
    } else {
      consistent = false;
      hasher = new PrefixHasher();
      hashes = prompt.map((m) => {
        hasher.push(m);
        return hasher.current();
      });
      const found = await deepestShared(tx, conversationId, hashes);
      matched = found?.depth ?? 0;
      parent = found?.seq ?? null;
    }
  }
  const rows: MessageRow[] = [];
  let next = head.message_count + 1;
  for (let i = matched; i < prompt.length; i++) {
    if (!hashes) hasher.push(prompt[i]!);
    rows.push({
      ...prompt[i]!,
      seq: next,
      parent_seq: parent,
      depth: i + 1,
      prefix_hash: hashes?.[i] ?? hasher.current(),
    });
    parent = next++;
  }
  const promptLastSeq = parent;
  const promptHash = hashes ? (hashes.at(-1) ?? null) : hasher.depth > 0 ? hasher.current() : null;
  let newHead = { seq: promptLastSeq, depth: prompt.length, hash: promptHash };
  let replySeq: number | null = null;
  if (reply) {
    // The hasher stands at the prompt's end in both paths (the slow path hashed it all).
    hasher.push(reply);
    replySeq = next;
    const hash = hasher.current();
    rows.push({
      ...reply,
      seq: next,
      parent_seq: promptLastSeq,
      depth: prompt.length + 1,
      prefix_hash: hash,
    });
    newHead = { seq: next, depth: prompt.length + 1, hash };
  }
  return {
    rows,
    consistent,
    divergedAt: consistent ? null : matched,
    promptLastSeq,
    firstNewSeq: rows[0]?.seq ?? null,
    replySeq,
    head: newHead,
  };
}

async function deepestShared(
  tx: Queryable,
  conversationId: string,
  hashes: string[],
): Promise<{ seq: number; depth: number } | null> {
  const { rows } = await tx.query<{ seq: number; depth: number }>(
    `SELECT seq, depth FROM llm_messages
     WHERE conversation_id = $1 AND prefix_hash = ANY($2::text[])
     ORDER BY depth DESC, seq LIMIT 1`,
    [conversationId, hashes],
  );
  return rows[0] ?? null;
}

/** One statement: the new messages, the call row, and the conversation's totals and head. */
async function insertCall(tx: Queryable, c: CallRecord, seq: number, plan: Plan): Promise<void> {
  const t = c.summary.tokens;
  await tx.query(
    `WITH new_messages AS (
       INSERT INTO llm_messages (conversation_id, seq, parent_seq, depth, role, content, tool_calls,
                                 tool_call_id, name, metadata, prefix_hash)
       SELECT $1, x.seq, x.parent_seq, x.depth, x.role, x.content, x.tool_calls, x.tool_call_id, x.name,
              coalesce(x.metadata, '{}'::jsonb), x.prefix_hash
       FROM jsonb_to_recordset($2::jsonb) AS x(seq int, parent_seq int, depth int, role text, content jsonb,
            tool_calls jsonb, tool_call_id text, name text, metadata jsonb, prefix_hash text)
     ), new_call AS (
       INSERT INTO llm_calls (conversation_id, task_id, attempt, seq, upstream, model_requested, model, stream,
         request, injected, prompt_message_count, prompt_last_seq, first_new_seq, reply_seq, prefix_consistent,
         diverged_at, response, finish_reasons, status, end_reason, error, usage, prompt_tokens,
         completion_tokens, total_tokens, cached_tokens, reasoning_tokens, has_token_ids, has_logprobs, cost,
         latency_ms, ttft_ms, started_at, completed_at)
       VALUES ($1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
         $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35)
     )
     UPDATE llm_conversations SET
       message_count = message_count + $36,
       call_count = call_count + 1,
       prompt_tokens = prompt_tokens + coalesce($24, 0),
       completion_tokens = completion_tokens + coalesce($25, 0),
       total_tokens = total_tokens + coalesce($26, coalesce($24, 0) + coalesce($25, 0)),
       cached_tokens = cached_tokens + coalesce($27, 0),
       reasoning_tokens = reasoning_tokens + coalesce($28, 0),
       cost = CASE WHEN $31::float8 IS NULL THEN cost ELSE coalesce(cost, 0) + $31::float8 END,
       head_seq = $37, head_depth = $38, head_hash = $39,
       ended_at = $35
     WHERE id = $1`,
    [
      c.conversationId,
      JSON.stringify(plan.rows),
      c.taskId,
      c.attempt,
      seq,
      c.upstream,
      c.modelRequested,
      c.summary.model,
      c.stream,
      JSON.stringify(c.request),
      JSON.stringify(c.injected),
      c.prompt.length,
      plan.promptLastSeq,
      plan.firstNewSeq,
      plan.replySeq,
      plan.consistent,
      plan.divergedAt,
      c.response === null ? null : JSON.stringify(c.response),
      c.summary.finishReasons === null ? null : JSON.stringify(c.summary.finishReasons),
      c.status,
      c.endReason,
      c.error,
      c.summary.usage === null ? null : JSON.stringify(c.summary.usage),
      t.prompt,
      t.completion,
      t.total,
      t.cached,
      t.reasoning,
      c.summary.hasTokenIds,
      c.summary.hasLogprobs,
      c.cost,
      c.latencyMs,
      c.ttftMs,
      c.startedAt,
      c.completedAt,
      plan.rows.length,
      plan.head.seq,
      plan.head.depth,
      plan.head.hash,
    ],
  );
}
