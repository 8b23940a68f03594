/**
 * A trajectory record as a row of the Parquet schema (parquet-schema.ts): the same nesting and
 * names, with what differs from the JSONL view converted: timestamps to microseconds since the
 * epoch, `rewards` to a list of {name, value}, a token line's `drift` to two columns. JSON fields
 * stay JS values (hyparquet-writer serialises them with JSON.stringify).
 */
import type { ExportCall, ExportConversation, ExportStep, TrajectoryRecord } from './record.ts';
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

// Token ids, logprobs and messages are passed through as they are (no copy): the shredder
// (parquet-columns.ts) reads them in place, and integer columns take JS numbers.

function callRow(c: ExportCall): Row {
  return { ...c, started_at: isoToMicros(c.started_at), completed_at: isoToMicros(c.completed_at) };
}

function conversationRow(c: ExportConversation): Row {
  return {
    ...c,
    started_at: isoToMicros(c.started_at),
    ended_at: micros(c.ended_at),
    calls: c.calls.map(callRow),
  };
}

function stepRow(s: ExportStep): Row {
  return { ...s, timestamp: isoToMicros(s.timestamp) };
}

function tokenRow(t: TokenLine): Row {
  return { ...t, drift_call_seq: t.drift?.call_seq ?? null, drift_position: t.drift?.position ?? null };
}

export function trajectoryRow(r: TrajectoryRecord, tokens: TokenLine[]): Row {
  return {
    ...r,
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
