/**
 * The Parquet footer (FileMetaData) of the trajectory export, kept as bytes while the file is
 * written so that memory does not grow with the export's size.
 *
 * A footer lists every row group's column chunks (96 here). Kept as the JS objects
 * hyparquet-writer builds until the end, they cost ~1.7 MB of heap per 1,000 bench
 * trajectories, on top of the row groups' buffers, without bound; as thrift bytes, ~0.2 MB —
 * each row group is serialized as soon as it is written and its objects dropped.
 *
 * The library serializes a whole FileMetaData at once (writeMetadata: no row group on its own),
 * so a row group's bytes are cut out of a footer holding only it, compared with the same footer
 * holding none: their bytes differ only inside the row-group list (thrift compact protocol: a
 * struct in a list is its fields and a stop byte, independent of its neighbours). The final
 * footer is the empty one with the list's header replaced and the row groups' bytes spliced in.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileMetaData, KeyValue, RowGroup, SchemaElement } from 'hyparquet';
import { ByteWriter } from 'hyparquet-writer';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import type { StreamSink } from './parquet-sink.ts';

/** The compact protocol's header for field 4 (delta 1 from field 3) of type LIST. */
const ROW_GROUPS_FIELD = 0x19;
const STRUCT = 0x0c;

interface FooterParts {
  /** Everything before the row-group list's header (its field header included). */
  head: Uint8Array;
  /** The empty list's header, as the library writes it (its element type left 0). */
  emptyList: number;
  /** Everything after the list (fields 5 to 7 and the stop byte), before the length. */
  tail: Uint8Array;
}

export interface FooterOptions {
  schema: SchemaElement[];
  kvMetadata: KeyValue[];
  createdBy: string;
}

/** Bytes appended to an anonymous temporary file, read back once in pieces. */
class SpillFile {
  private fd: number | null;
  private length = 0;

  constructor() {
    const dir = mkdtempSync(join(tmpdir(), 'te-parquet-footer-'));
    const path = join(dir, 'row-groups');
    try {
      this.fd = openSync(path, 'w+', 0o600);
      unlinkSync(path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  append(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length)
      done += writeSync(this.open(), bytes, done, bytes.length - done, this.length + done);
    this.length += bytes.length;
  }

  /** The bytes from the start, in pieces of up to `size` (each reused by the next). */
  *pieces(size: number): Generator<Uint8Array> {
    const piece = new Uint8Array(size);
    for (let at = 0; at < this.length; ) {
      const n = readSync(this.open(), piece, 0, Math.min(size, this.length - at), at);
      if (n === 0) throw new Error('parquet export: the footer spill file ended early');
      yield piece.subarray(0, n);
      at += n;
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private open(): number {
    if (this.fd === null) throw new Error('parquet export: the footer spill file is closed');
    return this.fd;
  }
}

export type FooterSink = Pick<
  StreamSink,
  'offset' | 'appendBytes' | 'appendUint8' | 'appendVarInt' | 'appendUint32' | 'flush'
>;

/** The copy back into the output: this much at a time, then wait for it to drain. */
const COPY_BYTES = 64 * 1024;

export class ParquetFooter {
  private readonly rowGroups = new SpillFile();
  private rowGroupCount = 0;
  private numRows = 0n;
  /** The tail's length: the same in every footer of this file. */
  private readonly tailLength: number;
  /** Where the list's header is in a footer of `numRows` = 0 (row groups are cut at it). */
  private readonly listAt: number;

  constructor(private readonly options: FooterOptions) {
    const empty = this.serialize(0n, []);
    const withOne = this.serialize(0n, [PROBE_ROW_GROUP]);
    this.listAt = firstDifference(empty, withOne);
    this.tailLength = empty.length - 4 - this.listAt - 1;
    this.parts(empty, 0n);
  }

  /** Records a written row group; its JS objects may be dropped at once. */
  add(rowGroup: RowGroup): void {
    const footer = this.serialize(0n, [rowGroup]);
    if (footer[this.listAt] !== ((1 << 4) | STRUCT)) throw layoutChanged('a one-item list header');
    this.rowGroups.append(footer.subarray(this.listAt + 1, footer.length - 4 - this.tailLength));
    this.rowGroupCount++;
    this.numRows += rowGroup.num_rows;
  }

  /**
   * Writes the footer — the metadata, its length, and the closing magic — waiting for the
   * output to drain as the row groups' bytes are copied in; then releases the spill file.
   */
  async write(sink: FooterSink): Promise<void> {
    try {
      const { head, emptyList, tail } = this.parts(this.serialize(this.numRows, []), this.numRows);
      const start = sink.offset;
      sink.appendBytes(head);
      const count = this.rowGroupCount;
      if (count === 0) sink.appendUint8(emptyList);
      else if (count < 15) sink.appendUint8((count << 4) | STRUCT);
      else {
        sink.appendUint8((15 << 4) | STRUCT);
        sink.appendVarInt(count);
      }
      for (const piece of this.rowGroups.pieces(COPY_BYTES)) {
        sink.appendBytes(piece);
        await sink.flush();
      }
      sink.appendBytes(tail);
      sink.appendUint32(sink.offset - start);
      sink.appendUint32(PAR1);
    } finally {
      this.close();
    }
  }

  /** Releases the spill file (an export stopped before its end); idempotent. */
  close(): void {
    this.rowGroups.close();
  }

  /** An empty-list footer's head and tail, checked against the layout the cut relies on. */
  private parts(empty: Uint8Array, numRows: bigint): FooterParts {
    const listAt = empty.length - 4 - this.tailLength - 1;
    // An empty list's header: size 0 in its high four bits (its element type is left 0).
    if (empty[listAt]! >> 4 !== 0 || empty[listAt - 1] !== ROW_GROUPS_FIELD)
      throw layoutChanged(`the row-group list of a footer of ${numRows} rows`);
    return {
      head: empty.subarray(0, listAt),
      emptyList: empty[listAt]!,
      tail: empty.subarray(listAt + 1, empty.length - 4),
    };
  }

  /** A whole footer (metadata + its 4-byte length) as hyparquet-writer serializes it. */
  private serialize(numRows: bigint, rowGroups: RowGroup[]): Uint8Array {
    const writer = new ByteWriter();
    const metadata: Omit<FileMetaData, 'metadata_length'> = {
      version: 2,
      schema: this.options.schema,
      num_rows: numRows,
      row_groups: rowGroups,
      key_value_metadata: this.options.kvMetadata,
      created_by: this.options.createdBy,
    };
    writeMetadata(writer, metadata as FileMetaData);
    return writer.getBytes();
  }
}

/** "PAR1", little-endian: a Parquet file's first and last four bytes. */
export const PAR1 = 0x31524150;

/** Only there to find where a row group's bytes start. */
const PROBE_ROW_GROUP: RowGroup = { columns: [], total_byte_size: 0n, num_rows: 0n };

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i;
}

function layoutChanged(what: string): Error {
  return new Error(
    `parquet export: hyparquet-writer's footer layout changed (${what}): cannot splice row groups`,
  );
}
