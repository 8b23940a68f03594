/**
 * Writes one nested leaf's buffered row group (parquet-buffers.ts) as a column chunk of
 * DATA_PAGE_V2 pages: levels RLE/bit-packed (uncompressed, as v2 keeps them), values PLAIN and
 * compressed. Pages are cut at row boundaries once they hold PAGE_BYTES of values, and an
 * offset index lists them, so a reader can seek to a page instead of reading the whole chunk.
 */
import { brotliCompressSync, constants } from 'node:zlib';
import type { ColumnChunk, OffsetIndex } from 'hyparquet';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { GrowableBytes, type LeafBuffer } from './parquet-buffers.ts';
import { type LeafPlan, PAGE_BYTES } from './parquet-columns.ts';
import { writeLevels } from './parquet-levels.ts';
import type { StreamSink } from './parquet-sink.ts';

type Writer = StreamSink;

const BROTLI = {
  params: {
    // Quality 1: its speed is what the export needs; higher qualities gain little on this data.
    [constants.BROTLI_PARAM_QUALITY]: 1,
    // Tells the encoder the input's size, so it sizes its window and tables for it.
    [constants.BROTLI_PARAM_SIZE_HINT]: 0,
  },
};

function compress(bytes: Uint8Array): Uint8Array {
  BROTLI.params[constants.BROTLI_PARAM_SIZE_HINT] = bytes.length;
  return brotliCompressSync(bytes, BROTLI);
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

/** One page; returns its uncompressed size (header included), as the chunk's metadata counts it. */
function writePage(writer: Writer, plan: LeafPlan, buffer: LeafBuffer, range: PageRange): number {
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
  const numValues = end.level - start.level;
  const headerStart = writer.offset;
  writePageHeader(writer, {
    type: 'DATA_PAGE_V2',
    uncompressed_page_size: LEVELS.length + raw.length,
    compressed_page_size: LEVELS.length + compressed.length,
    data_page_header_v2: {
      num_values: numValues,
      num_nulls: numValues - (end.value - start.value),
      num_rows: range.endRow - range.firstRow,
      encoding: 'PLAIN',
      definition_levels_byte_length: defBytes,
      repetition_levels_byte_length: repBytes,
      is_compressed: true,
    },
  });
  const headerSize = writer.offset - headerStart;
  writer.appendBytes(LEVELS.bytes.subarray(0, LEVELS.length));
  writer.appendOwned(compressed);
  return headerSize + LEVELS.length + raw.length;
}

/** The column chunk of one nested leaf over the buffered row group, and its offset index. */
export function writeLeafChunk(
  writer: Writer,
  plan: LeafPlan,
  buffer: LeafBuffer,
): { chunk: ColumnChunk; offsetIndex?: OffsetIndex } {
  const offsetStart = writer.offset;
  const pageLocations: OffsetIndex['page_locations'] = [];
  let uncompressed = 0;
  for (const range of pageRanges(buffer)) {
    const offset = writer.offset;
    uncompressed += writePage(writer, plan, buffer, range);
    pageLocations.push({
      offset: BigInt(offset),
      compressed_page_size: writer.offset - offset,
      first_row_index: BigInt(range.firstRow),
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
      num_values: BigInt(buffer.defs.length),
      total_uncompressed_size: BigInt(uncompressed),
      total_compressed_size: BigInt(writer.offset - offsetStart),
      data_page_offset: BigInt(offsetStart),
    },
  };
  // As hyparquet-writer does: an index only helps a chunk of more than one page.
  return { chunk, offsetIndex: pageLocations.length > 1 ? { page_locations: pageLocations } : undefined };
}
