/**
 * Feed cursors: the pair (transaction id, row id) of the last event a client has seen, written
 * `<txid>-<id>` (the SSE id). Both parts are 64-bit, kept as bigint so nothing is rounded.
 * `0` is the start of the feed. See migration 0011 for why the transaction id leads.
 */
export interface Cursor {
  txid: bigint;
  id: bigint;
}

export const START: Cursor = { txid: 0n, id: 0n };

const FORMAT = /^(\d{1,20})-(\d{1,20})$/;
const MAX = (1n << 63n) - 1n;

export function formatCursor(c: Cursor): string {
  return c.txid === 0n && c.id === 0n ? '0' : `${c.txid}-${c.id}`;
}

/** null when the text is not a cursor this server wrote. */
export function parseCursor(text: string): Cursor | null {
  const t = text.trim();
  if (t === '0') return START;
  const m = FORMAT.exec(t);
  if (!m) return null;
  const c = { txid: BigInt(m[1]!), id: BigInt(m[2]!) };
  return c.txid > MAX || c.id > MAX ? null : c;
}

export function compareCursors(a: Cursor, b: Cursor): number {
  if (a.txid !== b.txid) return a.txid < b.txid ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return 0;
}

export const isAfter = (a: Cursor, b: Cursor): boolean => compareCursors(a, b) > 0;
