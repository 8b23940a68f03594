/**
 * A trajectory record as a row of the Parquet schema (parquet-schema.ts): the same nesting and
 * names, with the values the writer needs for each physical type. hyparquet-writer takes INT64
 * values only as bigint, and TIMESTAMP(MICROS) as bigint microseconds, so those are converted
 * here; JSON fields stay JS values (the writer serialises them with JSON.stringify).
 */
import type {
  ExportCall,
  ExportConversation,
  ExportMessage,
  ExportStep,
  TrajectoryRecord,
} from './record.ts';
import type { TokenLine } from './token-types.ts';

export type Row = Record<string, unknown>;

const FRACTION = /T\d{2}:\d{2}:\d{2}\.(\d+)/;

/**
 * An ISO 8601 instant as microseconds since the epoch. Date.parse keeps milliseconds only, so
 * the 4th to 6th fractional digits (PostgreSQL's precision) are read from the text.
 */
export function isoToMicros(iso: string): bigint {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`parquet export: not an ISO timestamp: ${JSON.stringify(iso)}`);
  const fraction = FRACTION.exec(iso)?.[1] ?? '';
  const subMillis = Number(`${fraction.slice(3, 6)}000`.slice(0, 3));
  return BigInt(ms) * 1000n + BigInt(subMillis);
}

const micros = (iso: string | null): bigint | null => (iso === null ? null : isoToMicros(iso));
const big = (n: number | null): bigint | null => (n === null ? null : BigInt(n));

/** Token ids as the INT64 list the writer takes; also the bulk of a row, so a plain loop. */
function bigList(ids: number[] | null): bigint[] | null {
  if (ids === null) return null;
  const out = new Array<bigint>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = BigInt(ids[i]!);
  return out;
}

/** `undefined` (a key absent from the JSONL view) and null both become a SQL NULL. */
const orNull = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

function messageRow(m: ExportMessage): Row {
  return {
    seq: m.seq,
    parent_seq: m.parent_seq,
    role: m.role,
    content: m.content,
    tool_calls: m.tool_calls,
    tool_call_id: m.tool_call_id,
    name: m.name,
  };
}

function callRow(c: ExportCall): Row {
  return {
    ...c,
    prompt_tokens: big(c.prompt_tokens),
    completion_tokens: big(c.completion_tokens),
    cached_tokens: big(c.cached_tokens),
    reasoning_tokens: big(c.reasoning_tokens),
    policy_version: big(c.policy_version),
    started_at: isoToMicros(c.started_at),
    completed_at: isoToMicros(c.completed_at),
    prompt_token_ids: bigList(orNull(c.prompt_token_ids)),
    completion_token_ids: bigList(orNull(c.completion_token_ids)),
    completion_logprobs: orNull(c.completion_logprobs),
  };
}

function conversationRow(c: ExportConversation): Row {
  return {
    id: c.id,
    conversation_key: c.conversation_key,
    model_name: c.model_name,
    started_at: isoToMicros(c.started_at),
    ended_at: micros(c.ended_at),
    prompt_tokens: BigInt(c.prompt_tokens),
    completion_tokens: BigInt(c.completion_tokens),
    total_tokens: BigInt(c.total_tokens),
    cost: c.cost,
    messages: c.messages.map(messageRow),
    calls: c.calls.map(callRow),
  };
}

function stepRow(s: ExportStep): Row {
  return { ...s, timestamp: isoToMicros(s.timestamp) };
}

function tokenRow(t: TokenLine): Row {
  return {
    conversation_id: t.conversation_id,
    conversation_key: t.conversation_key,
    model: t.model,
    policy_version: big(t.policy_version),
    token_ids_recorded: t.token_ids_recorded,
    note: t.note,
    prompt_ids: bigList(t.prompt_ids),
    response_ids: bigList(t.response_ids),
    response_mask: t.response_mask,
    response_logprobs: t.response_logprobs,
    token_consistent: t.token_consistent,
    drift_call_seq: t.drift?.call_seq ?? null,
    drift_position: t.drift?.position ?? null,
    calls_used: t.calls_used,
    calls_total: t.calls_total,
  };
}

export function trajectoryRow(r: TrajectoryRecord, tokens: TokenLine[]): Row {
  return {
    ...r,
    policy_version: big(r.policy_version),
    created_at: isoToMicros(r.created_at),
    started_at: micros(r.started_at),
    completed_at: micros(r.completed_at),
    rewards: Object.entries(r.rewards).map(([name, value]) => ({ name, value })),
    reward_history: r.reward_history.map((h) => ({ ...h, created_at: isoToMicros(h.created_at) })),
    steps: r.steps.map(stepRow),
    conversations: r.conversations.map(conversationRow),
    tokens: tokens.map(tokenRow),
  };
}

/**
 * A cheap guess of a row's weight in a row group (bytes), to close a group before it grows past
 * the writer's budget: token ids and logprobs dominate long trajectories, text the rest.
 */
export function estimateRecordBytes(r: TrajectoryRecord, tokens: TokenLine[]): number {
  let bytes = 512;
  for (const s of r.steps) bytes += 64 + s.message.length;
  for (const c of r.conversations) {
    for (const m of c.messages) bytes += 64 + (typeof m.content === 'string' ? m.content.length : 256);
    for (const call of c.calls) {
      bytes += 512;
      bytes += 8 * (call.prompt_token_ids?.length ?? 0);
      bytes += 16 * (call.completion_token_ids?.length ?? 0);
    }
  }
  for (const t of tokens) bytes += 8 * (t.prompt_ids?.length ?? 0) + 20 * (t.response_ids?.length ?? 0);
  return bytes;
}
