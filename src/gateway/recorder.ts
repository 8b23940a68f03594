/**
 * The write side of the conversation store: who may call (a running attempt's token), which
 * conversation a call lands on, and the append-only record of each call.
 *
 * Recording a call is ONE statement when the caller knows the conversation's head (the
 * gateway remembers the head each record leaves): it inserts the new messages and the call
 * row and moves the totals and the head, guarded by the head's counters, so a write by
 * anyone else in between (another replica) makes it a no-op. Then, or when the head is not
 * known or the prompt rewrote history, a transaction locks the conversation row, reads the
 * head, looks up the divergence point if needed, and runs the same statement. Nothing stored
 * is read back or rewritten either way, so appending message N costs the same for N = 10 or
 * 10,000 (measured in `npm run bench`).
 */
import { encodeText, toStoredJson } from '../db/text-codec.ts';
import type { Db, Queryable } from '../db/types.ts';
import { PrefixHasher, type StoredMessage } from './messages.ts';
import type { ResponseSummary } from './summary.ts';
import { tokenColumns } from './token-columns.ts';

export type EndReason =
  | 'done'
  | 'client_cancelled'
  | 'upstream_error'
  | 'timeout'
  | 'attempt_ended'
  // The API process relaying the call died; recorded afterwards from its in-flight row.
  | 'interrupted';

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
  /** The call's row in llm_calls_in_flight, deleted by the statement that records it. */
  inFlightId: string | null;
  /**
   * Record only while that row still exists (a call recovered after its process died: two
   * replicas finding the same orphan record it once). A live call's record lands regardless.
   */
  requireInFlight?: boolean;
}

/** A recovered call another process recorded first (its in-flight row was gone). */
export class AlreadyRecorded extends Error {
  override name = 'AlreadyRecorded';
  constructor(readonly inFlightId: string | null) {
    super(`call ${inFlightId} was recorded already`);
  }
}

export interface Recorded {
  seq: number;
  prefixConsistent: boolean;
  divergedAt: number | null;
  newMessages: number;
  /** The conversation's head after this call: pass it to the next record of the conversation. */
  head: Head;
}

export type Lookup =
  | { ok: true; conversationId: string | null; metadata: Record<string, unknown> }
  | { ok: false; why: string };

/** Why a token for this attempt is no longer valid, or null while the attempt runs. */
function attemptProblem(t: { status: string; attempt: number } | undefined, attempt: number): string | null {
  if (!t) return 'its task does not exist';
  if (t.status !== 'running') return 'its task is not running';
  if (t.attempt !== attempt) return 'its attempt has ended (the task was claimed again)';
  return null;
}

/**
 * What a new conversation's metadata says about where it ran, as the Python task executor's
 * did (its README: problem_id, worker_id, kind cluster). The cluster is the one the worker
 * registered (metadata.kind_cluster), when it named one; it is served under both names that
 * executor's readers know (kind_cluster from the worker client, cluster_name from its store).
 */
function conversationMetadata(
  t: { problem_id: string; worker_id: string | null; kind_cluster: string | null },
  attempt: number,
): Record<string, unknown> {
  const cluster = t.kind_cluster ? { kind_cluster: t.kind_cluster, cluster_name: t.kind_cluster } : {};
  return { problem_id: t.problem_id, worker_id: t.worker_id, attempt, ...cluster };
}

export interface Head {
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
     * Whether the token's attempt is the task's current, running one, and the conversation
     * the call would land on when it exists already. One indexed read.
     */
    async lookup(taskId: string, attempt: number, key: string): Promise<Lookup> {
      const { rows } = await db.query<{
        status: string;
        attempt: number;
        problem_id: string;
        worker_id: string | null;
        kind_cluster: string | null;
        conversation_id: string | null;
      }>(
        `SELECT t.status, t.attempt, t.problem_id, t.worker_id, w.metadata->>'kind_cluster' AS kind_cluster,
                c.id AS conversation_id
         FROM tasks t
         LEFT JOIN workers w ON w.id = t.worker_id
         LEFT JOIN llm_conversations c ON c.task_id = t.id AND c.attempt = $2 AND c.conversation_key = $3
         WHERE t.id = $1`,
        [taskId, attempt, key],
      );
      const t = rows[0];
      const why = attemptProblem(t, attempt);
      if (why || !t) return { ok: false, why: why ?? '' };
      return { ok: true, conversationId: t.conversation_id, metadata: conversationMetadata(t, attempt) };
    },

    /** The attempt's conversation under `key`, created on its first call. */
    openConversation(
      taskId: string,
      attempt: number,
      key: string,
      first: { model: string; config: Record<string, unknown>; metadata: Record<string, unknown> },
    ): Promise<string> {
      return createConversation(db, taskId, attempt, key, first);
    },

    /** Null while the attempt runs; otherwise why its token is no longer valid. */
    async attemptProblem(taskId: string, attempt: number): Promise<string | null> {
      const { rows } = await db.query<{ status: string; attempt: number }>(
        'SELECT status, attempt FROM tasks WHERE id = $1',
        [taskId],
        { prepared: 'gateway_attempt_state' },
      );
      return attemptProblem(rows[0], attempt);
    },

    /**
     * Records one call; `known` is the head the previous record returned, when there is one.
     * Throws AlreadyRecorded for a `requireInFlight` record whose in-flight row was gone.
     */
    async record(c: CallRecord, known?: Head): Promise<Recorded> {
      if (known) {
        const plan = await planMessages(known, c.prompt, c.summary.reply, needsLock);
        if (plan && (await insertCall(db, c, known, plan))) return recorded(known, plan);
      }
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<Head>(
          `SELECT message_count, call_count, head_seq, head_depth, head_hash
           FROM llm_conversations WHERE id = $1 FOR UPDATE`,
          [c.conversationId],
        );
        const head = rows[0];
        if (!head) throw new Error(`conversation ${c.conversationId} vanished`);
        const plan = await planMessages(head, c.prompt, c.summary.reply, (hashes) =>
          deepestShared(tx, c.conversationId, hashes),
        );
        // Under the lock only the in-flight condition can fail the statement.
        if (!(await insertCall(tx, c, head, plan!))) throw new AlreadyRecorded(c.inFlightId);
        return recorded(head, plan!);
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
  first: { model: string; config: Record<string, unknown>; metadata: Record<string, unknown> },
): Promise<string> {
  // Two first calls can race (an agent running threads); the unique key picks one row.
  // session_id is left to its default, a fresh UUID (migration 0009).
  const inserted = await db.query<{ id: string }>(
    `INSERT INTO llm_conversations (task_id, attempt, conversation_key, model_name, model_config, metadata)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (task_id, attempt, conversation_key) DO NOTHING
     RETURNING id`,
    [taskId, attempt, key, first.model, toStoredJson(first.config), toStoredJson(first.metadata)],
  );
  if (inserted.rows[0]) return inserted.rows[0].id;
  const { rows } = await db.query<{ id: string }>(
    'SELECT id FROM llm_conversations WHERE task_id = $1 AND attempt = $2 AND conversation_key = $3',
    [taskId, attempt, key],
  );
  return rows[0]!.id;
}

function recorded(before: Head, plan: Plan): Recorded {
  return {
    seq: before.call_count + 1,
    prefixConsistent: plan.consistent,
    divergedAt: plan.divergedAt,
    newMessages: plan.rows.length,
    head: {
      message_count: before.message_count + plan.rows.length,
      call_count: before.call_count + 1,
      head_seq: plan.head.seq,
      head_depth: plan.head.depth,
      head_hash: plan.head.hash,
    },
  };
}

type SharedLookup = (hashes: string[]) => Promise<{ seq: number; depth: number } | null | 'locked'>;
/** The fast path cannot look rows up: a rewritten history goes to the locked path. */
const needsLock: SharedLookup = async () => 'locked';

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
  head: Head,
  prompt: readonly StoredMessage[],
  reply: StoredMessage | null,
  lookup: SharedLookup,
): Promise<Plan | null> {
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
      const found = await lookup(hashes);
      if (found === 'locked') return null;
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

/**
 * One statement: the conversation's totals and head move only if its counters still equal
 * `before` (nobody recorded in between), and the new messages and the call row are inserted
 * and the call's in-flight row deleted only if they did. Returns false when the guard failed
 * and nothing was written.
 */
async function insertCall(db: Queryable, c: CallRecord, before: Head, plan: Plan): Promise<boolean> {
  const t = c.summary.tokens;
  const seq = before.call_count + 1;
  // In columns of their own for the export (migration 0013); the response keeps them too.
  const tokens = tokenColumns(c.response);
  const { rows } = await db.query<{ moved: number }>(
    `WITH head AS (
       UPDATE llm_conversations SET
         message_count = message_count + $36,
         call_count = call_count + 1,
         prompt_tokens = prompt_tokens + coalesce($24, 0),
         completion_tokens = completion_tokens + coalesce($25, 0),
         total_tokens = total_tokens + coalesce($26, coalesce($24, 0) + coalesce($25, 0)),
         cached_tokens = cached_tokens + coalesce($27, 0),
         reasoning_tokens = reasoning_tokens + coalesce($28, 0),
         cost = CASE WHEN $31::float8 IS NULL THEN cost ELSE coalesce(cost, 0) + $31::float8 END,
         unpriced_calls = unpriced_calls
           + CASE WHEN $31::float8 IS NULL AND ($24::int IS NOT NULL OR $25::int IS NOT NULL) THEN 1 ELSE 0 END,
         head_seq = $37, head_depth = $38, head_hash = $39,
         ended_at = $35
       WHERE id = $1 AND call_count = $40 AND message_count = $41
         AND (NOT $43::boolean OR EXISTS (SELECT 1 FROM llm_calls_in_flight WHERE id = $42::uuid))
       RETURNING id
     ), landed AS (
       DELETE FROM llm_calls_in_flight WHERE id = $42::uuid AND EXISTS (SELECT 1 FROM head)
     ), new_messages AS (
       INSERT INTO llm_messages (conversation_id, seq, parent_seq, depth, role, content, tool_calls,
                                 tool_call_id, name, metadata, prefix_hash)
       SELECT $1, x.seq, x.parent_seq, x.depth, x.role, x.content, x.tool_calls, x.tool_call_id, x.name,
              coalesce(x.metadata, '{}'::jsonb), x.prefix_hash
       FROM jsonb_to_recordset($2::jsonb) AS x(seq int, parent_seq int, depth int, role text, content jsonb,
            tool_calls jsonb, tool_call_id text, name text, metadata jsonb, prefix_hash text)
       WHERE EXISTS (SELECT 1 FROM head)
     ), new_call AS (
       INSERT INTO llm_calls (conversation_id, task_id, attempt, seq, upstream, model_requested, model, stream,
         request, injected, prompt_message_count, prompt_last_seq, first_new_seq, reply_seq, prefix_consistent,
         diverged_at, response, finish_reasons, status, end_reason, error, usage, prompt_tokens,
         completion_tokens, total_tokens, cached_tokens, reasoning_tokens, has_token_ids, has_logprobs, cost,
         latency_ms, ttft_ms, started_at, completed_at, policy_version, prompt_token_ids, completion_token_ids,
         completion_logprobs)
       SELECT $1, $3::uuid, $4::int, $5::int, $6::text, $7::text, $8::text, $9::boolean, $10::jsonb, $11::jsonb,
         $12::int, $13::int, $14::int, $15::int, $16::boolean, $17::int, $18::jsonb, $19::jsonb, $20::int,
         $21::text, $22::text, $23::jsonb, $24::int, $25::int, $26::int, $27::int, $28::int, $29::boolean,
         $30::boolean, $31::float8, $32::float8, $33::float8, $34::timestamptz, $35::timestamptz,
         -- The task's weights version when the call lands (a primary-key read in this statement).
         (SELECT policy_version FROM tasks WHERE id = $3::uuid),
         $44::bytea, $45::bytea, $46::bytea
       WHERE EXISTS (SELECT 1 FROM head)
     )
     SELECT count(*)::int AS moved FROM head`,
    [
      c.conversationId,
      // Every string through the text codec: a NUL in a tool output is stored, not a lost record.
      toStoredJson(plan.rows),
      c.taskId,
      c.attempt,
      seq,
      c.upstream,
      c.modelRequested,
      c.summary.model,
      c.stream,
      toStoredJson(c.request),
      toStoredJson(c.injected),
      c.prompt.length,
      plan.promptLastSeq,
      plan.firstNewSeq,
      plan.replySeq,
      plan.consistent,
      plan.divergedAt,
      c.response === null ? null : toStoredJson(c.response),
      c.summary.finishReasons === null ? null : toStoredJson(c.summary.finishReasons),
      c.status,
      c.endReason,
      c.error === null ? null : encodeText(c.error),
      c.summary.usage === null ? null : toStoredJson(c.summary.usage),
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
      before.call_count,
      before.message_count,
      c.inFlightId,
      c.requireInFlight === true,
      tokens.promptTokenIds,
      tokens.completionTokenIds,
      tokens.completionLogprobs,
    ],
    // Every call runs it: prepared once per connection, it skips a parse and plan each time.
    { prepared: 'gateway_record_call' },
  );
  return rows[0]?.moved === 1;
}
