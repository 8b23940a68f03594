/**
 * Dremel levels in Parquet's RLE / bit-packed hybrid encoding, from a Uint8Array.
 *
 * hyparquet-writer has this encoder too, but generic over JS arrays and appending byte by
 * byte through a DataView; a page of token ids has ~10^5 levels, nearly all one long run, and
 * its loop was the export's largest single cost after the shredding (6% of the profile).
 * This one scans runs in a monomorphic loop over bytes and writes into a reused buffer.
 */
import type { GrowableBytes } from './parquet-buffers.ts';

/** Runs shorter than this are bit-packed (a run header costs as much as 8 packed values). */
const MIN_RUN = 8;

function varint(out: GrowableBytes, value: number): void {
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Levels [from, to) as bit-packed groups of 8 (the last padded with zeros, which readers skip). */
function bitPacked(out: GrowableBytes, levels: Uint8Array, from: number, to: number, width: number): void {
  const groups = Math.ceil((to - from) / 8);
  varint(out, groups * 2 + 1);
  let acc = 0;
  let bits = 0;
  for (let i = from; i < from + groups * 8; i++) {
    acc |= (i < to ? levels[i]! : 0) << bits;
    bits += width;
    while (bits >= 8) {
      out.push(acc & 0xff);
      acc >>>= 8;
      bits -= 8;
    }
  }
}

/** Past this many equal levels, a run is scanned four at a time. */
const WORD_SCAN_AFTER = 32;

/**
 * Where the run of `value` that starts at `from` ends. A page of token ids is one run of ~10^5
 * levels: past the first few bytes it is compared a 32-bit word at a time (an aligned view of
 * the levels' own memory), four times fewer steps than byte by byte.
 */
function runEnd(levels: Uint8Array, from: number, value: number): number {
  const n = levels.length;
  let end = from + 1;
  const short = Math.min(n, from + WORD_SCAN_AFTER);
  while (end < short && levels[end] === value) end++;
  if (end < short || end === n) return end;
  const base = levels.byteOffset;
  while (end < n && (base + end) & 3 && levels[end] === value) end++;
  if (end === n || (base + end) & 3) return end;
  const words = new Uint32Array(levels.buffer, base + end, (n - end) >> 2);
  const pattern = (value * 0x01010101) >>> 0;
  let w = 0;
  while (w < words.length && words[w] === pattern) w++;
  end += 4 * w;
  while (end < n && levels[end] === value) end++;
  return end;
}

/** Appends `levels` encoded at `width` bits (at most 8) to `out`; returns the bytes written. */
export function writeLevels(out: GrowableBytes, levels: Uint8Array, width: number): number {
  const start = out.length;
  const n = levels.length;
  let packedFrom = -1;
  let i = 0;
  while (i < n) {
    const value = levels[i]!;
    const end = runEnd(levels, i, value);
    if (end - i >= MIN_RUN) {
      if (packedFrom >= 0) bitPacked(out, levels, packedFrom, i, width);
      packedFrom = -1;
      varint(out, (end - i) * 2);
      out.push(value);
      i = end;
    } else {
      // Packed in groups of 8, so a later run starts on a group boundary.
      if (packedFrom < 0) packedFrom = i;
      i += MIN_RUN;
    }
  }
  if (packedFrom >= 0) bitPacked(out, levels, packedFrom, Math.min(i, n), width);
  return out.length - start;
}
