/**
 * The Parquet export: one row per trajectory record, nested (see parquet-schema.ts for the
 * layout), written incrementally to any Writable.
 *
 * Memory stays bounded whatever the export's size: records are buffered until a row group is
 * full (rowGroupRows records, or an estimated rowGroupBytes, whichever comes first), the group
 * is encoded and its bytes handed to `out` in 1 MiB chunks, and the next record is not taken
 * before `out` has drained. Peak memory is about one row group's records as JS objects plus one
 * leaf column's levels at a time. The defaults (64 records or ~8 MB of estimated data) keep a
 * group of 15-call trajectories with token ids at ~12 records: on the export bench, peak RSS
 * rose from ~340 MB (8 MB) to ~440 MB (16 MB) and ~700 MB (32 MB) with no gain in speed, and
 * 8 MB groups (2-4 MB compressed) are still large enough for compression and for readers.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { writeColumn } from 'hyparquet-writer/src/column.js';
import type { FileWriter } from './format-types.ts';
import { leafPlans, shred } from './parquet-columns.ts';
import { estimateRecordBytes, type Row, trajectoryRow } from './parquet-rows.ts';
import { trajectorySchema } from './parquet-schema.ts';
import { TRAJECTORY_SCHEMA_VERSION, type TrajectoryRecord } from './record.ts';
import type { TokenLine } from './token-types.ts';

export const DEFAULT_ROW_GROUP_ROWS = 64;
export const DEFAULT_ROW_GROUP_BYTES = 8 * 2 ** 20;
const CHUNK_BYTES = 2 ** 20;

export interface ParquetWriterOptions {
  /** The token view of a record (tokens.ts' tokenLines), stored in the `tokens` column. */
  tokensOf: (record: TrajectoryRecord) => TokenLine[];
  /** Records per row group at most. */
  rowGroupRows?: number;
  /** Estimated bytes per row group at most (a long trajectory closes its group early). */
  rowGroupBytes?: number;
}

/**
 * hyparquet-writer's byte sink, passing its bytes on to a Writable: full chunks as the encoder
 * fills them (synchronously, it cannot wait), then after each row group `flush` waits for `out`
 * to drain, which is what holds the producer back.
 */
class StreamSink extends ByteWriter {
  private failure: Error | null = null;

  constructor(private readonly out: Writable) {
    super(CHUNK_BYTES + 64 * 1024);
    out.once('error', (err) => {
      this.failure = err;
    });
  }

  override ensure(size: number): void {
    if (this.index > 0 && this.index + size > CHUNK_BYTES) this.push();
    super.ensure(size);
  }

  /** Hands the filled part of the buffer to `out` and starts a fresh buffer (no copy). */
  private push(): void {
    if (this.index === 0) return;
    this.out.write(new Uint8Array(this.buffer, 0, this.index));
    this.buffer = new ArrayBuffer(Math.max(CHUNK_BYTES + 64 * 1024, this.buffer.byteLength));
    this.view = new DataView(this.buffer);
    this.index = 0;
  }

  async flush(): Promise<void> {
    this.push();
    if (this.failure) throw this.failure;
    if (this.out.writableNeedDrain) await once(this.out, 'drain');
  }

  override async finish(): Promise<void> {
    await this.flush();
  }
}

type RowGroup = ParquetWriter['row_groups'][number];

/**
 * One row group: every leaf column shredded and encoded in schema order, one at a time, so only
 * one leaf's levels are alive at once. The file's header, footer and page indexes stay
 * ParquetWriter's; only its per-group column loop is replaced (see parquet-columns.ts for why).
 */
function writeRowGroup(parquet: ParquetWriter, sink: StreamSink, rows: Row[]): void {
  const start = sink.offset;
  const columns: RowGroup['columns'] = [];
  let uncompressed = 0n;
  for (const plan of PLANS) {
    const column = { ...plan.encoder, compressors: parquet.compressors };
    const result = writeColumn({ writer: sink, column, pageData: shred(plan, rows) });
    columns.push(result.chunk);
    uncompressed += result.chunk.meta_data?.total_uncompressed_size ?? 0n;
    parquet.pendingIndexes.push(result);
  }
  const numRows = BigInt(rows.length);
  parquet.num_rows += numRows;
  parquet.row_groups.push({
    columns,
    total_byte_size: uncompressed,
    num_rows: numRows,
    total_compressed_size: BigInt(sink.offset - start),
  });
}

const SCHEMA = trajectorySchema();
const PLANS = leafPlans(SCHEMA);

export function createParquetWriter(out: Writable, opts: ParquetWriterOptions): FileWriter {
  const maxRows = opts.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS;
  const maxBytes = opts.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES;
  if (!(maxRows >= 1)) throw new Error('parquet export: rowGroupRows must be at least 1');
  const sink = new StreamSink(out);
  const parquet = new ParquetWriter({
    writer: sink,
    schema: SCHEMA,
    kvMetadata: [{ key: 'schema_version', value: TRAJECTORY_SCHEMA_VERSION }],
    createdBy: 'task-executor trajectory export',
  });
  let rows: Row[] = [];
  let bytes = 0;

  async function flushGroup(): Promise<void> {
    if (rows.length === 0) return;
    const group = rows;
    rows = [];
    bytes = 0;
    writeRowGroup(parquet, sink, group);
    await sink.flush();
  }

  return {
    async write(record) {
      const tokens = opts.tokensOf(record);
      rows.push(trajectoryRow(record, tokens));
      bytes += estimateRecordBytes(record, tokens);
      if (rows.length >= maxRows || bytes >= maxBytes) await flushGroup();
    },
    async end() {
      await flushGroup();
      await parquet.finish();
    },
  };
}
