/**
 * The table of LLM calls between "forwarded upstream" and "recorded" (migration 0006).
 *
 * The gateway writes a row before it forwards a call; the statement that records the call
 * deletes it (recorder.ts), so a call is always in exactly one of the two places. The row is
 * what other API replicas and later processes know of a call:
 *   - `othersOf`/`requestCut`: a report on one replica waits for the attempt's calls relayed
 *     by another, and asks their owner to cut them after the grace;
 *   - `touch`/`cutsFor`: the owner renews its rows and learns which to cut;
 *   - `orphans`: rows whose owner stopped renewing them (its process died) are recorded as
 *     `interrupted` by whichever replica finds them (flight-keeper.ts).
 */
import { isDatabaseUnavailable } from '../db/errors.ts';
import { decodeText, fromStoredJson, toStoredJson } from '../db/text-codec.ts';
import { TurnBatch } from '../db/turn-batch.ts';
import type { Queryable } from '../db/types.ts';
import { attemptKey } from './attempt-cache.ts';
import { PrefixHasher, type StoredMessage } from './messages.ts';
import type { CallRecord, Head } from './recorder.ts';

/** What the gateway knows of a call before forwarding it: its record, less the outcome. */
export type InFlightCall = Pick<
  CallRecord,
  | 'conversationId'
  | 'taskId'
  | 'attempt'
  | 'upstream'
  | 'modelRequested'
  | 'stream'
  | 'request'
  | 'injected'
  | 'prompt'
  | 'startedAt'
> & { id: string };

/** The stored context a prompt extends: its first `depth` messages end at message `seq`. */
export interface PromptBase {
  seq: number;
  depth: number;
}

/** An orphaned call (its whole prompt rebuilt), with the last time its owner was known to relay it. */
export type OrphanedCall = InFlightCall & { seenAt: Date };

/**
 * The conversation's head when the prompt extends it (the same hash check the recorder makes),
 * so only the prompt's new messages need storing with the in-flight row.
 */
export function promptBase(head: Head | undefined, prompt: readonly StoredMessage[]): PromptBase | null {
  if (!head || head.head_seq === null || head.head_depth === 0 || prompt.length < head.head_depth)
    return null;
  const hasher = new PrefixHasher();
  for (let i = 0; i < head.head_depth; i++) hasher.push(prompt[i]!);
  return hasher.current() === head.head_hash ? { seq: head.head_seq, depth: head.head_depth } : null;
}

interface OrphanRow {
  id: string;
  base_seq: number | null;
  conversation_id: string;
  task_id: string;
  attempt: number;
  upstream: string;
  model_requested: string;
  stream: boolean;
  request: Record<string, unknown>;
  injected: string[];
  prompt: StoredMessage[];
  started_at: Date;
  seen_at: Date;
}

/** One in-flight row's columns, in the order of INSERT_ROWS. */
type RowValues = [
  string,
  string,
  string,
  number,
  string,
  string,
  string,
  boolean,
  string,
  string,
  string,
  Date,
  number | null,
  number,
];

/**
 * Any number of rows in one statement: one array per column, unnested side by side.
 *
 * Committed without waiting for the WAL flush (synchronous_commit off for this statement's
 * transaction only): the row is on the call's critical path, and what it guards against is the
 * API process dying, which it does as soon as it is committed — visible to every replica. Only
 * a crash of the database server itself within its WAL writer's delay (≤ 3 × wal_writer_delay)
 * can lose it, and then the call's record, written after the answer, still lands; a durable
 * commit that follows (a record, the task's completion) flushes it anyway.
 */
const INSERT_ROWS = `INSERT INTO llm_calls_in_flight (id, conversation_id, task_id, attempt, instance, upstream,
     model_requested, stream, request, injected, prompt, started_at, base_seq, base_depth)
   SELECT u.* FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::text[],
     $8::boolean[], $9::jsonb[], $10::jsonb[], $11::jsonb[], $12::timestamptz[], $13::int[], $14::int[]) AS u,
     (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`;

/** Rows written by one statement at most. */
const MAX_BATCH = 256;
/** Statements writing rows at once; calls arriving meanwhile wait and go together in the next. */
const MAX_WRITES = 4;

interface PendingRow {
  values: RowValues;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export function createInFlightStore(db: Queryable, instance: string) {
  const pending: PendingRow[] = [];
  let writing = 0;

  const insert = async (rows: readonly RowValues[]) => {
    const columns = rows[0]!.map((_, i) => rows.map((r) => r[i]));
    await db.query(INSERT_ROWS, columns, { prepared: 'gateway_in_flight_add' });
  };

  /**
   * Writes what is pending, as one statement: under a burst, the calls that arrive while
   * earlier rows are being written share one statement and one commit (a lone call is
   * written at once). If a shared statement fails for anything but an outage, each row is
   * tried alone, so one bad row cannot refuse the calls it happened to travel with.
   */
  const write = async () => {
    if (writing >= MAX_WRITES || pending.length === 0) return;
    writing++;
    const batch = pending.splice(0, MAX_BATCH);
    try {
      await insert(batch.map((p) => p.values));
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length === 1 || isDatabaseUnavailable(err)) for (const p of batch) p.reject(err);
      else for (const p of batch) await insert([p.values]).then(p.resolve, p.reject);
    } finally {
      writing--;
      void write();
    }
  };

  // Every report asks once; the questions of one event-loop turn (a batch of reports,
  // concurrent requests) share one statement.
  const others = new TurnBatch(async (keys: readonly string[]) => {
    const asked = keys.map((k) => k.split('/') as [string, string]);
    const { rows } = await db.query<{ task_id: string; attempt: number; n: number }>(
      `SELECT f.task_id, f.attempt, count(*)::int AS n
       FROM llm_calls_in_flight f JOIN unnest($1::uuid[], $2::int[]) AS q(task_id, attempt)
         ON f.task_id = q.task_id AND f.attempt = q.attempt
       WHERE f.instance <> $3
       GROUP BY f.task_id, f.attempt`,
      [asked.map(([t]) => t), asked.map(([, a]) => Number(a)), instance],
      { prepared: 'gateway_in_flight_others' },
    );
    return new Map(rows.map((r) => [attemptKey(r.task_id, r.attempt), r.n]));
  });

  return {
    instance,

    /** Writes the call; with a base, only the prompt's messages after it. */
    add(c: InFlightCall, base: PromptBase | null = null): Promise<void> {
      const values: RowValues = [
        c.id,
        c.conversationId,
        c.taskId,
        c.attempt,
        instance,
        c.upstream,
        c.modelRequested,
        c.stream,
        toStoredJson(c.request),
        toStoredJson(c.injected),
        toStoredJson(base ? c.prompt.slice(base.depth) : c.prompt),
        c.startedAt,
        base?.seq ?? null,
        base?.depth ?? 0,
      ];
      return new Promise<void>((resolve, reject) => {
        pending.push({ values, resolve, reject });
        void write();
      });
    },

    /** Removes the row of a call that ended without a record (refused, or its record given up). */
    async remove(id: string): Promise<void> {
      await db.query('DELETE FROM llm_calls_in_flight WHERE id = $1', [id]);
    },

    /** Renews this process's rows among `ids`. */
    async touch(ids: readonly string[]): Promise<void> {
      if (ids.length === 0) return;
      await db.query('UPDATE llm_calls_in_flight SET seen_at = now() WHERE id = ANY($1::uuid[])', [ids]);
    },

    /** The calls of this process another replica asked to cut. */
    async cutsFor(): Promise<string[]> {
      const { rows } = await db.query<{ id: string }>(
        'SELECT id FROM llm_calls_in_flight WHERE instance = $1 AND cut_requested',
        [instance],
      );
      return rows.map((r) => r.id);
    },

    /** How many of the attempt's calls other processes are relaying. */
    async othersOf(taskId: string, attempt: number): Promise<number> {
      const key = attemptKey(taskId, attempt);
      return (await others.get([key])).get(key) ?? 0;
    },

    async requestCut(taskId: string, attempt: number): Promise<void> {
      await db.query(
        `UPDATE llm_calls_in_flight SET cut_requested = true
         WHERE task_id = $1 AND attempt = $2 AND instance <> $3 AND NOT cut_requested`,
        [taskId, attempt, instance],
      );
    },

    /** Calls whose owner has not renewed them for `staleSeconds`, oldest first. */
    async orphans(staleSeconds: number, limit: number): Promise<OrphanedCall[]> {
      const { rows } = await db.query<OrphanRow>(
        `SELECT id, conversation_id, task_id, attempt, upstream, model_requested, stream, request,
                injected, prompt, started_at, seen_at, base_seq
         FROM llm_calls_in_flight
         WHERE seen_at < now() - $1::float8 * interval '1 second'
         ORDER BY seen_at LIMIT $2`,
        [staleSeconds, limit],
      );
      const calls: OrphanedCall[] = [];
      for (const r of rows) {
        const tail = fromStoredJson(r.prompt);
        const prefix = r.base_seq === null ? [] : await storedContext(db, r.conversation_id, r.base_seq);
        calls.push(orphanOf(r, [...prefix, ...tail]));
      }
      return calls;
    },
  };
}

export type InFlightStore = ReturnType<typeof createInFlightStore>;

function orphanOf(r: OrphanRow, prompt: StoredMessage[]): OrphanedCall {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    taskId: r.task_id,
    attempt: r.attempt,
    upstream: r.upstream,
    modelRequested: r.model_requested,
    stream: r.stream,
    request: fromStoredJson(r.request),
    injected: fromStoredJson(r.injected),
    prompt,
    startedAt: new Date(r.started_at),
    seenAt: new Date(r.seen_at),
  };
}

/** The stored context ending at message `seq`: its chain of parents, first message first. */
async function storedContext(db: Queryable, conversationId: string, seq: number): Promise<StoredMessage[]> {
  const { rows } = await db.query<StoredMessage>(
    `WITH RECURSIVE chain AS (
       SELECT seq, parent_seq, depth FROM llm_messages WHERE conversation_id = $1 AND seq = $2
       UNION ALL
       SELECT m.seq, m.parent_seq, m.depth FROM llm_messages m
       JOIN chain c ON m.conversation_id = $1 AND m.seq = c.parent_seq
     )
     SELECT m.role, m.content, m.tool_calls, m.tool_call_id, m.name, m.metadata
     FROM chain JOIN llm_messages m ON m.conversation_id = $1 AND m.seq = chain.seq
     ORDER BY chain.depth`,
    [conversationId, seq],
  );
  return rows.map((m) => ({
    role: decodeText(m.role),
    content: fromStoredJson(m.content ?? null),
    tool_calls: fromStoredJson(m.tool_calls ?? null),
    tool_call_id: m.tool_call_id === null ? null : decodeText(m.tool_call_id),
    name: m.name === null ? null : decodeText(m.name),
    metadata: fromStoredJson(m.metadata ?? {}),
  }));
}
