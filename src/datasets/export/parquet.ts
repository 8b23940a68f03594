/**
 * The Parquet export: one row per trajectory record, nested (see parquet-schema.ts for the
 * layout), written incrementally to any Writable.
 *
 * Memory stays bounded whatever the export's size: each record is shredded into column buffers
 * as it arrives (typed arrays of levels and PLAIN values; parquet-buffers.ts) and dropped.
 * When the buffers reach rowGroupBytes (or rowGroupRows records), the group's pages start
 * compressing on libuv's thread pool and the next records are shredded into a second set of
 * buffers meanwhile; when that one is full, the first group is written (its bytes handed to
 * `out` as they come), and the next record is not taken before `out` has drained. Peak memory
 * is about two row groups' uncompressed columns, reused from group to group; the footer's
 * metadata, which grows with the file, waits on disk (parquet-footer.ts).
 */
import type { Writable } from 'node:stream';
import { brotliCompressSync, constants } from 'node:zlib';
import type { ColumnChunk, OffsetIndex } from 'hyparquet';
import { writeColumn } from 'hyparquet-writer/src/column.js';
import { writeIndexes } from 'hyparquet-writer/src/indexes.js';
import type { FileWriter } from './format-types.ts';
import { LeafBuffer } from './parquet-buffers.ts';
import { flatPageData, type LeafPlan, LeafShredder, leafPlans } from './parquet-columns.ts';
import { PAR1, ParquetFooter } from './parquet-footer.ts';
import { type PreparedChunk, prepareLeafChunk, writeLeafChunk } from './parquet-pages.ts';
import { type Row, trajectoryRow } from './parquet-rows.ts';
import { trajectorySchema } from './parquet-schema.ts';
import { StreamSink } from './parquet-sink.ts';
import { TRAJECTORY_SCHEMA_VERSION, type TrajectoryRecord } from './record.ts';
import type { TokenLine } from './token-types.ts';

// 8 MiB of buffered columns is ~40 bench trajectories (~1 MiB compressed). On the export bench,
// 4 and 16 MiB gave the same peak RSS and speed within noise: the buffers are a small part of it.
export const DEFAULT_ROW_GROUP_ROWS = 64;
export const DEFAULT_ROW_GROUP_BYTES = 8 * 2 ** 20;

export interface ParquetWriterOptions {
  /** The token view of a record (tokens.ts' tokenLines), stored in the `tokens` column. */
  tokensOf: (record: TrajectoryRecord) => TokenLine[];
  /** Records per row group at most. */
  rowGroupRows?: number;
  /** Buffered (uncompressed) bytes per row group at most: long trajectories close a group early. */
  rowGroupBytes?: number;
}

/** A written column chunk and, when it has more than one page, its offset index. */
interface ChunkResult {
  chunk: ColumnChunk;
  offsetIndex?: OffsetIndex;
}

const SCHEMA = trajectorySchema();
const PLANS = leafPlans(SCHEMA);
const COMPRESSORS = { BROTLI: (bytes: Uint8Array) => brotliCompressSync(bytes, BROTLI_FLAT) };
// The flat columns' pages are a few hundred bytes: quality 1 costs less than the call itself.
const BROTLI_FLAT = { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } };

type GroupLeaf =
  | { kind: 'flat'; plan: LeafPlan; values: unknown[] }
  | { kind: 'nested'; plan: LeafPlan; buffer: LeafBuffer; shredder: LeafShredder };

/**
 * A row group being filled: one buffer per nested leaf, one JS array per top-level scalar
 * (a value per row), in schema order.
 */
class GroupBuffer {
  rows = 0;
  private readonly leaves: GroupLeaf[] = PLANS.map((plan) =>
    plan.flat
      ? { kind: 'flat', plan, values: [] }
      : {
          kind: 'nested',
          plan,
          buffer: new LeafBuffer(plan.encoder.element.type!),
          shredder: new LeafShredder(plan),
        },
  );

  add(row: Row): void {
    for (const leaf of this.leaves) {
      if (leaf.kind === 'flat') leaf.values.push(row[leaf.plan.top]);
      else leaf.shredder.shred(row, leaf.buffer);
    }
    this.rows++;
  }

  /** Bytes buffered (the nested leaves' levels and values: the flat ones weigh nothing). */
  get bytes(): number {
    let total = 0;
    for (const leaf of this.leaves) if (leaf.kind === 'nested') total += leaf.buffer.bytes;
    return total;
  }

  /**
   * Starts compressing the nested leaves' pages (on the thread pool): until `write` has
   * finished, the group's buffers are being read and must not be cleared or added to.
   */
  prepare(): (PreparedChunk | null)[] {
    return this.leaves.map((leaf) =>
      leaf.kind === 'nested' ? prepareLeafChunk(leaf.plan, leaf.buffer) : null,
    );
  }

  /** Writes every column chunk, in schema order; returns them with their indexes. */
  async write(sink: StreamSink, prepared: (PreparedChunk | null)[]): Promise<ChunkResult[]> {
    const results: ChunkResult[] = [];
    for (const [i, leaf] of this.leaves.entries()) {
      if (leaf.kind === 'nested') results.push(await writeLeafChunk(sink, prepared[i]!));
      else {
        const column = { ...leaf.plan.encoder, compressors: COMPRESSORS };
        results.push(writeColumn({ writer: sink, column, pageData: flatPageData(leaf.plan, leaf.values) }));
      }
    }
    return results;
  }

  clear(): void {
    for (const leaf of this.leaves) {
      if (leaf.kind === 'flat') leaf.values = [];
      else leaf.buffer.clear();
    }
    this.rows = 0;
  }
}

/** A group whose pages are compressing, waiting to be written. */
interface Pending {
  group: GroupBuffer;
  prepared: (PreparedChunk | null)[];
}

/**
 * Writes the group as a row group of the file, then its chunks' offset indexes (so that their
 * offsets, which the row group's metadata records, are known now: see parquet-footer.ts).
 */
async function writeRowGroup(
  footer: ParquetFooter,
  sink: StreamSink,
  { group, prepared }: Pending,
): Promise<void> {
  const start = sink.offset;
  const results = await group.write(sink, prepared);
  const compressed = BigInt(sink.offset - start);
  writeIndexes(sink, results);
  let uncompressed = 0n;
  for (const { chunk } of results) uncompressed += chunk.meta_data?.total_uncompressed_size ?? 0n;
  footer.add({
    columns: results.map((r) => r.chunk),
    total_byte_size: uncompressed,
    num_rows: BigInt(group.rows),
    total_compressed_size: compressed,
  });
}

export function createParquetWriter(out: Writable, opts: ParquetWriterOptions): FileWriter {
  const maxRows = opts.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS;
  const maxBytes = opts.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES;
  if (!(maxRows >= 1)) throw new Error('parquet export: rowGroupRows must be at least 1');
  const sink = new StreamSink(out);
  const footer = new ParquetFooter({
    schema: SCHEMA,
    kvMetadata: [{ key: 'schema_version', value: TRAJECTORY_SCHEMA_VERSION }],
    createdBy: 'task-executor trajectory export',
  });
  sink.appendUint32(PAR1);
  // Two groups: one filling on the main thread while the other's pages compress.
  let filling = new GroupBuffer();
  let spare = new GroupBuffer();
  let pending: Pending | null = null;

  /** Writes the group that was compressing, then waits for `out` to drain. */
  async function writePending(): Promise<void> {
    if (pending === null) return;
    const done = pending;
    pending = null;
    await writeRowGroup(footer, sink, done);
    done.group.clear();
    await sink.flush();
  }

  /** Closes the filling group: its pages start compressing; the spare group fills next. */
  async function closeGroup(): Promise<void> {
    await writePending();
    if (filling.rows === 0) return;
    pending = { group: filling, prepared: filling.prepare() };
    [filling, spare] = [spare, filling];
  }

  return {
    async write(record) {
      filling.add(trajectoryRow(record, opts.tokensOf(record)));
      if (filling.rows >= maxRows || filling.bytes >= maxBytes) await closeGroup();
    },
    async end() {
      await closeGroup();
      await writePending();
      await footer.write(sink);
      await sink.finish();
    },
    close() {
      footer.close();
    },
  };
}
