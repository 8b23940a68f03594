/**
 * Lists of numbers stored packed in a bytea, big-endian as PostgreSQL's int4send/float8send
 * write them (so SQL can build and read them too): llm_calls' token columns (migration 0013).
 * PostgreSQL hands a packed column out whole, where an int[] goes through int4out one element
 * at a time; unpacking here is a plain loop over a DataView.
 */

/** int32s → bytea. */
export function packInt32s(values: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(4 * values.length);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < values.length; i++) view.setInt32(4 * i, values[i]!);
  return out;
}

/** float8s → bytea; null is stored as NaN (never a value here: these come from JSON, which has none). */
export function packFloat64s(values: readonly (number | null)[]): Buffer {
  const out = Buffer.allocUnsafe(8 * values.length);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < values.length; i++) view.setFloat64(8 * i, values[i] ?? Number.NaN);
  return out;
}

const asView = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/*
 * Unpacked by push, not into `new Array(n)`: that array is "holey" to V8, and JSON.stringify of
 * a holey array of 30k ids took 1.7× as long, building included (the export writes every id).
 */

/** bytea (as either driver returns it) → int32s. */
export function unpackInt32s(bytes: Uint8Array): number[] {
  const view = asView(bytes);
  const n = bytes.byteLength >> 2;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(view.getInt32(4 * i));
  return out;
}

/** bytea → float8s, NaN read back as null. */
export function unpackFloat64s(bytes: Uint8Array): (number | null)[] {
  const view = asView(bytes);
  const n = bytes.byteLength >> 3;
  const out: (number | null)[] = [];
  for (let i = 0; i < n; i++) {
    const v = view.getFloat64(8 * i);
    out.push(Number.isNaN(v) ? null : v);
  }
  return out;
}
