import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import type { ColumnChunk, RowGroup } from 'hyparquet';
import { parquetMetadata } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { readOffsetIndex } from 'hyparquet/src/indexes.js';
import { ByteWriter } from 'hyparquet-writer';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import { createParquetWriter } from '../src/datasets/export/parquet.ts';
import { leafPlans } from '../src/datasets/export/parquet-columns.ts';
import { PAR1, ParquetFooter } from '../src/datasets/export/parquet-footer.ts';
import { trajectorySchema } from '../src/datasets/export/parquet-schema.ts';
import type { TrajectoryRecord } from '../src/datasets/export/record.ts';
import { openSpillFiles } from './helpers/open-files.ts';
import { fullRecord, simpleTokenLines } from './helpers/parquet-records.ts';

const SCHEMA = trajectorySchema();
const PLANS = leafPlans(SCHEMA);
const KV = [{ key: 'schema_version', value: '1.0' }];
const CREATED_BY = 'footer test';

/** A row group shaped like the export's: every leaf, statistics on the flat string columns. */
function rowGroup(k: number): RowGroup {
  const columns: ColumnChunk[] = PLANS.map((plan, c) => {
    const offset = BigInt(4 + k * 100_000 + c * 1000);
    const stats = plan.flat && plan.encoder.element.type === 'BYTE_ARRAY';
    return {
      file_offset: offset,
      meta_data: {
        type: plan.encoder.element.type!,
        encodings: ['PLAIN', 'RLE'],
        path_in_schema: plan.encoder.schemaPath.slice(1).map((s) => s.name),
        codec: 'BROTLI',
        num_values: BigInt(40 + c),
        total_uncompressed_size: BigInt(5000 + c),
        total_compressed_size: BigInt(900 + c),
        data_page_offset: offset,
        statistics: stats ? { min_value: `a${k}`, max_value: `z${k}`, null_count: 0n } : undefined,
      },
      offset_index_offset: c % 7 === 0 ? offset + 800n : undefined,
      offset_index_length: c % 7 === 0 ? 24 : undefined,
    };
  });
  return {
    columns,
    total_byte_size: BigInt(123_456 + k),
    num_rows: BigInt(40 + k),
    total_compressed_size: 98_765n,
  };
}

/** The footer as hyparquet-writer writes it from all the row groups' objects at the end. */
function libraryFooter(groups: RowGroup[]): Uint8Array {
  const writer = new ByteWriter();
  writeMetadata(writer, {
    version: 2,
    schema: SCHEMA,
    num_rows: groups.reduce((n, g) => n + g.num_rows, 0n),
    row_groups: groups,
    key_value_metadata: KV,
    created_by: CREATED_BY,
    metadata_length: 0,
  });
  writer.appendUint32(PAR1);
  return writer.getBytes();
}

async function splicedFooter(groups: RowGroup[]): Promise<Uint8Array> {
  const footer = new ParquetFooter({ schema: SCHEMA, kvMetadata: KV, createdBy: CREATED_BY });
  for (const g of groups) footer.add(g);
  const writer = Object.assign(new ByteWriter(), { flush: async () => {} });
  await footer.write(writer);
  return writer.getBytes();
}

const LONG_PROMPT = Array.from({ length: 400_000 }, (_, i) => (i * 7919) % 151_936);

const dir = mkdtempSync(join(tmpdir(), 'te-parquet-footer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function writeFile(records: TrajectoryRecord[], rowGroupRows: number): Promise<string> {
  const path = join(dir, `export-${rowGroupRows}.parquet`);
  const out = createWriteStream(path);
  const writer = createParquetWriter(out, {
    rowGroupRows,
    // A ~1.6 MB prompt per record: its column chunk spans several pages.
    tokensOf: (r) => simpleTokenLines(r).map((line) => ({ ...line, prompt_ids: LONG_PROMPT })),
  });
  for (const r of records) await writer.write(r);
  await writer.end();
  out.end();
  await finished(out);
  return path;
}

describe('Parquet footer', () => {
  it('splicing row groups serialized one at a time gives the library’s footer byte for byte', async () => {
    // 0, 1, 14 and 15+ row groups: the list header's short and long forms; 400 groups (~3 MB)
    // are copied back from the spill file in many pieces.
    for (const count of [0, 1, 3, 14, 15, 40, 400]) {
      const groups = Array.from({ length: count }, (_, k) => rowGroup(k));
      assert.deepStrictEqual(
        Buffer.from(await splicedFooter(groups)),
        Buffer.from(libraryFooter(groups)),
        `${count} row groups`,
      );
    }
  });

  it('each row group’s offset indexes follow it and point at the pages of its chunks', async () => {
    const records = Array.from({ length: 6 }, (_, i) => fullRecord(i));
    const path = await writeFile(records, 2);
    const bytes = readFileSync(path);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const metadata = parquetMetadata(buffer);
    assert.equal(metadata.num_rows, 6n);
    assert.equal(metadata.row_groups.length, 3);
    let indexed = 0;
    metadata.row_groups.forEach((group, g) => {
      const next = metadata.row_groups[g + 1]?.columns[0]?.file_offset ?? BigInt(bytes.length);
      for (const chunk of group.columns) {
        if (chunk.offset_index_offset === undefined) continue;
        indexed++;
        const at = Number(chunk.offset_index_offset);
        const dataEnd = Number(chunk.meta_data!.data_page_offset + chunk.meta_data!.total_compressed_size);
        assert.ok(
          at >= dataEnd && at < Number(next),
          `${chunk.meta_data!.path_in_schema.join('.')} of group ${g}`,
        );
        const view = new DataView(buffer, at, chunk.offset_index_length);
        const index = readOffsetIndex({ view, offset: 0 });
        assert.ok(index.page_locations.length > 1);
        for (const page of index.page_locations) {
          const reader = { view: new DataView(buffer), offset: Number(page.offset) };
          const header = parquetHeader(reader);
          assert.equal(header.type, 'DATA_PAGE_V2');
          assert.equal(
            reader.offset - Number(page.offset) + header.compressed_page_size,
            page.compressed_page_size,
          );
        }
      }
    });
    // The prompt ids of each of the 3 groups span pages.
    assert.ok(indexed >= 3, `${indexed} indexed chunks`);
  });

  it('keeps its row groups in a deleted file, released by end() or by close() when the export stops', async () => {
    const before = openSpillFiles().length;
    const sink = () => new Writable({ write: (_chunk, _enc, done) => done() });
    const stopped = createParquetWriter(sink(), { tokensOf: simpleTokenLines, rowGroupRows: 1 });
    for (let i = 0; i < 3; i++) await stopped.write(fullRecord(i));
    const open = openSpillFiles();
    assert.equal(open.length, before + 1);
    assert.match(open.at(-1)!, /\(deleted\)$/, 'nothing is left on disk whatever happens to the process');
    stopped.close();
    stopped.close();
    assert.equal(openSpillFiles().length, before);

    const ended = createParquetWriter(sink(), { tokensOf: simpleTokenLines });
    await ended.write(fullRecord(0));
    await ended.end();
    assert.equal(openSpillFiles().length, before);
  });
});
