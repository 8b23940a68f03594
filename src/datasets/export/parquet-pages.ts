/**
 * Writes one nested leaf's buffered row group (parquet-buffers.ts) as a column chunk of
 * DATA_PAGE_V2 pages: levels RLE/bit-packed (uncompressed, as v2 keeps them), values PLAIN and
 * compressed. Pages are cut at row boundaries once they hold PAGE_BYTES of values, and an
 * offset index lists them, so a reader can seek to a page instead of reading the whole chunk.
 */
import { brotliCompress, brotliCompressSync, constants } from 'node:zlib';
import type { ColumnChunk, OffsetIndex } from 'hyparquet';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { GrowableBytes, type LeafBuffer } from './parquet-buffers.ts';
import { type LeafPlan, PAGE_BYTES } from './parquet-columns.ts';
import { writeLevels } from './parquet-levels.ts';
import type { StreamSink } from './parquet-sink.ts';

type Writer = StreamSink;

/**
 * BROTLI at quality 1: its speed is what the export needs; higher qualities gain little on this
 * data. Large pages (token ids, message text: nearly all the bytes) are compressed on libuv's
 * thread pool (node:zlib's async API), so a row group's pages compress while the next group is
 * shredded on the main thread (parquet.ts); small ones (most columns: a few hundred bytes per
 * group) at once, as a trip to the pool costs more than compressing them.
 */
const ASYNC_PAGE_BYTES = 64 * 1024;

const brotliParams = (bytes: Uint8Array) => ({
  [constants.BROTLI_PARAM_QUALITY]: 1,
  // The input's size, so the encoder sizes its window and tables for it.
  [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
});

function compress(bytes: Uint8Array): Promise<Buffer> {
  if (bytes.length < ASYNC_PAGE_BYTES)
    return Promise.resolve(brotliCompressSync(bytes, { params: brotliParams(bytes) }));
  return new Promise((resolve, reject) => {
    brotliCompress(
      bytes,
      {
        params: brotliParams(bytes),
        // Output is gathered in chunks of this size, each a trip back to the main thread:
        // token ids compress ~11x, text ~4x, so a page's output is one or two chunks.
        chunkSize: Math.max(16_384, bytes.length >> 2),
      },
      (err, out) => (err ? reject(err) : resolve(out)),
    );
  });
}

/** A page's encoded levels, reused from page to page (they are copied out at once). */
const LEVELS = new GrowableBytes();

const bitWidth = (maxLevel: number) => Math.ceil(Math.log2(maxLevel + 1));

/** BOOLEAN PLAIN: one bit per value, least significant first. */
function packBits(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.length / 8));
  for (let i = 0; i < bytes.length; i++) if (bytes[i]) out[i >> 3]! |= 1 << (i & 7);
  return out;
}

interface PageRange {
  /** Rows [firstRow, endRow) of the group. */
  firstRow: number;
  endRow: number;
}

/** Consecutive row ranges whose values reach PAGE_BYTES (the last one may be smaller). */
function pageRanges(buffer: LeafBuffer): PageRange[] {
  const { rows } = buffer;
  const ranges: PageRange[] = [];
  let firstRow = 0;
  for (let r = 1; r < rows.length; r++) {
    if (rows[r]!.byte - rows[firstRow]!.byte >= PAGE_BYTES) {
      ranges.push({ firstRow, endRow: r });
      firstRow = r;
    }
  }
  if (rows.length > 0) ranges.push({ firstRow, endRow: rows.length });
  return ranges;
}

/** A page whose levels are encoded and whose values are being compressed. */
interface PreparedPage {
  range: PageRange;
  levels: Uint8Array;
  defBytes: number;
  repBytes: number;
  rawBytes: number;
  numValues: number;
  numNulls: number;
  compressed: Promise<Buffer>;
}

/** A nested leaf's column chunk over a buffered row group, its pages compressing. */
export interface PreparedChunk {
  plan: LeafPlan;
  numValues: number;
  pages: PreparedPage[];
}

function preparePage(plan: LeafPlan, buffer: LeafBuffer, range: PageRange): PreparedPage {
  const { rows, defs, reps, values } = buffer;
  const start = rows[range.firstRow]!;
  const end = rows[range.endRow] ?? { level: defs.length, value: values.count, byte: values.length };
  LEVELS.length = 0;
  const repBytes = plan.maxRepetitionLevel
    ? writeLevels(LEVELS, reps.bytes.subarray(start.level, end.level), bitWidth(plan.maxRepetitionLevel))
    : 0;
  const defBytes = plan.maxDefinitionLevel
    ? writeLevels(LEVELS, defs.bytes.subarray(start.level, end.level), bitWidth(plan.maxDefinitionLevel))
    : 0;
  const plain = values.bytes.subarray(start.byte, end.byte);
  const raw = values.type === 'BOOLEAN' ? packBits(plain) : plain;
  const compressed = compress(raw);
  // Awaited when the group is written; until then a failure must not count as unhandled
  // (an export abandoned in between never awaits it).
  compressed.catch(() => {});
  const numValues = end.level - start.level;
  return {
    range,
    // A copy (Buffer#slice would be a view of LEVELS, which the next page overwrites).
    levels: Uint8Array.prototype.slice.call(LEVELS.bytes, 0, LEVELS.length),
    defBytes,
    repBytes,
    rawBytes: raw.length,
    numValues,
    numNulls: numValues - (end.value - start.value),
    compressed,
  };
}

/**
 * Encodes a nested leaf's levels and starts compressing its pages. The buffer's values are
 * read by the compressor until the chunk is written: it must not be touched before then.
 */
export function prepareLeafChunk(plan: LeafPlan, buffer: LeafBuffer): PreparedChunk {
  return {
    plan,
    numValues: buffer.defs.length,
    pages: pageRanges(buffer).map((range) => preparePage(plan, buffer, range)),
  };
}

/** One page; returns its uncompressed size (header included), as the chunk's metadata counts it. */
function writePage(writer: Writer, page: PreparedPage, compressedBytes: Buffer): number {
  const headerStart = writer.offset;
  writePageHeader(writer, {
    type: 'DATA_PAGE_V2',
    uncompressed_page_size: page.levels.length + page.rawBytes,
    compressed_page_size: page.levels.length + compressedBytes.length,
    data_page_header_v2: {
      num_values: page.numValues,
      num_nulls: page.numNulls,
      num_rows: page.range.endRow - page.range.firstRow,
      encoding: 'PLAIN',
      definition_levels_byte_length: page.defBytes,
      repetition_levels_byte_length: page.repBytes,
      is_compressed: true,
    },
  });
  const headerSize = writer.offset - headerStart;
  writer.appendBytes(page.levels);
  writer.appendOwned(compressedBytes);
  return headerSize + page.levels.length + page.rawBytes;
}

/** Writes a prepared chunk, each page once it is compressed; returns it with its offset index. */
export async function writeLeafChunk(
  writer: Writer,
  prepared: PreparedChunk,
): Promise<{ chunk: ColumnChunk; offsetIndex?: OffsetIndex }> {
  const { plan } = prepared;
  const offsetStart = writer.offset;
  const pageLocations: OffsetIndex['page_locations'] = [];
  let uncompressed = 0;
  for (const page of prepared.pages) {
    const offset = writer.offset;
    uncompressed += writePage(writer, page, await page.compressed);
    pageLocations.push({
      offset: BigInt(offset),
      compressed_page_size: writer.offset - offset,
      first_row_index: BigInt(page.range.firstRow),
    });
  }
  const { element, schemaPath, codec } = plan.encoder;
  const chunk: ColumnChunk = {
    file_offset: BigInt(offsetStart),
    meta_data: {
      type: element.type!,
      encodings: ['PLAIN', 'RLE'],
      path_in_schema: schemaPath.slice(1).map((s) => s.name),
      codec: codec ?? 'UNCOMPRESSED',
      num_values: BigInt(prepared.numValues),
      total_uncompressed_size: BigInt(uncompressed),
      total_compressed_size: BigInt(writer.offset - offsetStart),
      data_page_offset: BigInt(offsetStart),
    },
  };
  // As hyparquet-writer does: an index only helps a chunk of more than one page.
  return { chunk, offsetIndex: pageLocations.length > 1 ? { page_locations: pageLocations } : undefined };
}
