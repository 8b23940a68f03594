/**
 * Where a nested leaf column's data waits for its row group to be written: Dremel levels and
 * PLAIN-encoded values in growable typed arrays, appended to as each record is shredded.
 *
 * Why not JS arrays: a row group holds ~10^6 token ids; as JS arrays (values, definition and
 * repetition levels) that is 24 bytes per id and millions of pushes, then the encoder reads
 * them back one by one into bytes. Here an id costs 4 bytes of values and 2 of levels, is
 * written once, and a page's values are a subarray of the buffer, handed to the compressor
 * as they are. Buffers are kept across row groups, so a steady export allocates almost nothing.
 */
import type { ParquetType } from 'hyparquet';

const INITIAL_BYTES = 4096;

/** A Uint8Array that grows by doubling; `length` is the used part. */
export class GrowableBytes {
  // allocUnsafeSlow: never a slice of Node's shared pool, so offset 0 and 8-byte aligned.
  bytes = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  length = 0;

  /** Makes room for `more` bytes after `length` (the view may change: re-read `bytes`). */
  reserve(more: number): void {
    const need = this.length + more;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.onGrow();
  }

  protected onGrow(): void {}

  /** Appends `count` copies of `value`. */
  fill(value: number, count: number): void {
    this.reserve(count);
    this.bytes.fill(value, this.length, this.length + count);
    this.length += count;
  }

  push(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }
}

/**
 * PLAIN values of one physical type: INT32, INT64 (as two little-endian int32 words), DOUBLE,
 * BOOLEAN (one byte per value here, bit-packed per page when written) or BYTE_ARRAY
 * (a 4-byte length, then the UTF-8 bytes). Typed views share the byte buffer; all values of
 * a column are one size, so the offsets of 4- and 8-byte values stay aligned.
 */
export class PlainValues extends GrowableBytes {
  count = 0;
  private i32 = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 2);
  private f64 = new Float64Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 3);

  constructor(readonly type: ParquetType) {
    super();
  }

  protected override onGrow(): void {
    this.i32 = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 2);
    this.f64 = new Float64Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 3);
  }

  int32(value: number): void {
    this.reserve(4);
    this.i32[this.length >> 2] = value;
    this.length += 4;
    this.count++;
  }

  /** Token ids and masks: a whole list at once, each value checked to be an int32. */
  int32List(items: readonly unknown[], column: string): void {
    this.reserve(4 * items.length);
    const view = this.i32;
    const base = this.length >> 2;
    for (let k = 0; k < items.length; k++) {
      const v = items[k] as number;
      if ((v | 0) !== v) throw new Error(`parquet export: ${column}: not an int32: ${String(v)}`);
      view[base + k] = v;
    }
    this.length += 4 * items.length;
    this.count += items.length;
  }

  /** A JS number (a safe integer) or a bigint, as a signed 64-bit integer. */
  int64(value: number | bigint, column: string): void {
    let low: number;
    let high: number;
    if (typeof value === 'bigint') {
      if (BigInt.asIntN(64, value) !== value) throw new Error(`parquet export: ${column}: not an int64`);
      low = Number(BigInt.asUintN(32, value));
      high = Number(BigInt.asIntN(32, value >> 32n));
    } else {
      if (!Number.isSafeInteger(value))
        throw new Error(`parquet export: ${column}: not an integer: ${value}`);
      high = Math.floor(value / 2 ** 32);
      low = value - high * 2 ** 32;
    }
    this.reserve(8);
    this.i32[this.length >> 2] = low | 0;
    this.i32[(this.length >> 2) + 1] = high;
    this.length += 8;
    this.count++;
  }

  double(value: number, column: string): void {
    if (typeof value !== 'number') throw new Error(`parquet export: ${column}: not a number`);
    this.reserve(8);
    this.f64[this.length >> 3] = value;
    this.length += 8;
    this.count++;
  }

  /** Logprobs: a whole list at once. */
  doubleList(items: readonly unknown[], column: string): void {
    this.reserve(8 * items.length);
    const view = this.f64;
    const base = this.length >> 3;
    for (let k = 0; k < items.length; k++) {
      const v = items[k];
      if (typeof v !== 'number') throw new Error(`parquet export: ${column}: not a number`);
      view[base + k] = v;
    }
    this.length += 8 * items.length;
    this.count += items.length;
  }

  boolean(value: boolean, column: string): void {
    if (typeof value !== 'boolean') throw new Error(`parquet export: ${column}: not a boolean`);
    this.push(value ? 1 : 0);
    this.count++;
  }

  /** A string as a BYTE_ARRAY: UTF-8 written straight into the buffer after its length. */
  string(value: string): void {
    this.reserve(4 + 3 * value.length);
    const written = this.bytes.write(value, this.length + 4, 'utf8');
    this.bytes.writeUInt32LE(written, this.length);
    this.length += 4 + written;
    this.count++;
  }

  clear(): void {
    this.length = 0;
    this.count = 0;
  }
}

/** Where each buffered row starts, so pages can be cut at row boundaries (data page v2 needs it). */
export interface RowStart {
  level: number;
  value: number;
  byte: number;
}

/** One nested leaf's buffered row group. */
export class LeafBuffer {
  readonly defs = new GrowableBytes();
  readonly reps = new GrowableBytes();
  readonly values: PlainValues;
  rows: RowStart[] = [];

  constructor(type: ParquetType) {
    this.values = new PlainValues(type);
  }

  startRow(): void {
    this.rows.push({ level: this.defs.length, value: this.values.count, byte: this.values.length });
  }

  /** One level slot without a value (a null, or an empty list, at depth `def`). */
  empty(def: number, rep: number): void {
    this.defs.push(def);
    this.reps.push(rep);
  }

  clear(): void {
    this.defs.length = 0;
    this.reps.length = 0;
    this.values.clear();
    this.rows = [];
  }

  /** Bytes buffered: what the row group budget counts. */
  get bytes(): number {
    return this.values.length + 2 * this.defs.length;
  }
}
