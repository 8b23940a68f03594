import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { readRleBitPackedHybrid } from 'hyparquet/src/encoding.js';
import { createParquetWriter, type ParquetWriterOptions } from '../src/datasets/export/parquet.ts';
import { GrowableBytes } from '../src/datasets/export/parquet-buffers.ts';
import { writeLevels } from '../src/datasets/export/parquet-levels.ts';
import { isoToMicros } from '../src/datasets/export/parquet-rows.ts';
import type { TrajectoryRecord } from '../src/datasets/export/record.ts';
import type { TokenLine } from '../src/datasets/export/token-types.ts';
import {
  microIso,
  parquetPath,
  queryDuckDb,
  readWithDuckDb,
  readWithHyparquet,
  type View,
} from './helpers/parquet-readers.ts';
import { fullRecord, nullRecord, simpleTokenLines } from './helpers/parquet-records.ts';

const dir = mkdtempSync(join(tmpdir(), 'te-parquet-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

async function writeFile(
  records: TrajectoryRecord[],
  opts: Partial<ParquetWriterOptions> = {},
): Promise<string> {
  const path = join(dir, `export-${++files}.parquet`);
  const out = createWriteStream(path);
  const writer = createParquetWriter(out, { tokensOf: simpleTokenLines, ...opts });
  for (const r of records) await writer.write(r);
  await writer.end();
  out.end();
  await finished(out);
  return path;
}

const TIMESTAMP_KEYS = new Set(['created_at', 'started_at', 'completed_at', 'ended_at', 'timestamp']);

/** The JSONL view of a value, with every timestamp written at microsecond precision. */
function jsonView(value: unknown): unknown {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [
        k,
        TIMESTAMP_KEYS.has(k) && typeof x === 'string' ? microIso(x) : walk(x),
      ]),
    );
  };
  return walk(JSON.parse(JSON.stringify(value)));
}

/** A token line as the `tokens` column holds it: without the row's own fields, drift flattened. */
function tokenColumnView(t: TokenLine): View {
  const { schema_version, cursor, task_id, attempt, reward, status, drift, ...rest } = t;
  return { ...rest, drift_call_seq: drift?.call_seq ?? null, drift_position: drift?.position ?? null };
}

/** A row read back, split into the record's JSONL view and its tokens. */
function splitRow(row: View): { record: View; tokens: unknown } {
  const { tokens, rewards, ...rest } = row;
  const entries = rewards as { name: string; value: number }[];
  return { record: { ...rest, rewards: Object.fromEntries(entries.map((e) => [e.name, e.value])) }, tokens };
}

/** Field by field, so a failure names the field (and the conversation, message or call). */
function assertSameRecord(actual: View, expected: TrajectoryRecord, label: string) {
  const want = jsonView(expected) as View;
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(want).sort(), `${label}: columns`);
  for (const key of Object.keys(want)) {
    if (key === 'conversations') continue;
    assert.deepStrictEqual(actual[key], want[key], `${label}: ${key}`);
  }
  const got = actual.conversations as View[];
  const wantConversations = want.conversations as View[];
  assert.equal(got.length, wantConversations.length, `${label}: conversations`);
  wantConversations.forEach((conversation, c) => {
    for (const key of Object.keys(conversation)) {
      if (key === 'messages' || key === 'calls') {
        const items = conversation[key] as View[];
        const gotItems = got[c]![key] as View[];
        assert.equal(gotItems.length, items.length, `${label}: conversation ${c} ${key}`);
        items.forEach((item, k) => {
          for (const field of Object.keys(item))
            assert.deepStrictEqual(
              gotItems[k]![field],
              item[field],
              `${label}: conversation ${c} ${key}[${k}].${field}`,
            );
        });
      } else {
        assert.deepStrictEqual(got[c]![key], conversation[key], `${label}: conversation ${c} ${key}`);
      }
    }
  });
}

describe('Parquet export', () => {
  it('every field of every record reads back from DuckDB exactly, nested messages, ids and logprobs included', async () => {
    const records = [fullRecord(1), nullRecord(2), fullRecord(3)];
    const path = await writeFile(records);
    const rows = await readWithDuckDb(path);
    assert.equal(rows.length, records.length);
    records.forEach((record, i) => {
      const { record: got, tokens } = splitRow(rows[i]!);
      assertSameRecord(got, record, `record ${i}`);
      assert.deepStrictEqual(tokens, simpleTokenLines(record).map(tokenColumnView), `record ${i}: tokens`);
    });
    // The doubles survive bit for bit, and the largest id an INT32 holds.
    const call = (rows[0]!.conversations as View[])[0]!.calls as View[];
    assert.deepStrictEqual(call[0]!.completion_logprobs, [-1.2345678901234567, -1e-300, -0.1, -Math.PI]);
    assert.equal((call[0]!.completion_token_ids as number[]).at(-1), 2 ** 31 - 1);
  });

  it('hyparquet, a second reader, reads the same rows as DuckDB', async () => {
    const path = await writeFile([fullRecord(4), nullRecord(5)]);
    assert.deepStrictEqual(await readWithHyparquet(path), await readWithDuckDb(path));
  });

  it('the file carries the trajectory schema version and typed columns', async () => {
    const path = await writeFile([fullRecord(6)]);
    const kv = await queryDuckDb(
      `SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${parquetPath(path)})`,
    );
    assert.deepStrictEqual(kv, [{ key: 'schema_version', value: '1.0' }]);
    const types = Object.fromEntries(
      (await queryDuckDb(`DESCRIBE SELECT * FROM read_parquet(${parquetPath(path)})`)).map((r) => [
        r.column_name,
        r.column_type,
      ]),
    );
    assert.equal(types.created_at, 'TIMESTAMP WITH TIME ZONE');
    assert.equal(types.policy_version, 'BIGINT');
    assert.match(String(types.conversations), /\bprompt_token_ids INTEGER\[\]/);
    assert.match(String(types.conversations), /\bcompletion_logprobs DOUBLE\[\]/);
    // DuckDB sees the free-form fields as its JSON type, not as opaque text.
    assert.match(String(types.conversations), /\brequest JSON\b/);
    assert.equal(types.agent_config, 'JSON');
    assert.match(String(types.tokens), /\bresponse_mask INTEGER\[\]/);
  });

  it('many records are split into row groups of rowGroupRows, in order', async () => {
    const records = Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? nullRecord(i) : fullRecord(i)));
    const path = await writeFile(records, { rowGroupRows: 8 });
    const [groups] = await queryDuckDb(
      `SELECT count(DISTINCT row_group_id) AS n, max(row_group_num_rows) AS largest
       FROM parquet_metadata(${parquetPath(path)})`,
    );
    assert.deepStrictEqual(groups, { n: 7, largest: 8 });
    const rows = await readWithDuckDb(path);
    assert.deepStrictEqual(
      rows.map((r) => r.cursor),
      records.map((r) => r.cursor),
    );
    records.forEach((record, i) => {
      assertSameRecord(splitRow(rows[i]!).record, record, `record ${i}`);
    });
  });

  it('a group of long trajectories is closed by the byte budget before rowGroupRows', async () => {
    const records = Array.from({ length: 12 }, (_, i) => fullRecord(i));
    const path = await writeFile(records, { rowGroupRows: 1000, rowGroupBytes: 8_000 });
    const [groups] = await queryDuckDb(
      `SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata(${parquetPath(path)})`,
    );
    assert.ok((groups!.n as number) > 1, `one row group for ${records.length} long records`);
    assert.equal((await readWithDuckDb(path)).length, records.length);
  });

  it('an empty export is a valid file with every column and no rows', async () => {
    const path = await writeFile([]);
    const [count] = await queryDuckDb(`SELECT count(*) AS n FROM read_parquet(${parquetPath(path)})`);
    assert.deepStrictEqual(count, { n: 0 });
    const columns = await queryDuckDb(`DESCRIBE SELECT * FROM read_parquet(${parquetPath(path)})`);
    const names = columns.map((c) => c.column_name);
    assert.deepStrictEqual([...names].sort(), [...Object.keys(fullRecord(0)), 'tokens'].sort());
    assert.deepStrictEqual(await readWithHyparquet(path), []);
  });

  it('waits for a slow destination to drain before taking more records, and writes the same bytes', async () => {
    const chunks: Buffer[] = [];
    let sawBackpressure = false;
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, done) {
        chunks.push(Buffer.from(chunk));
        setTimeout(done, 1);
      },
    });
    // 'drain' is emitted only after a write was refused: the destination pushed back.
    slow.on('drain', () => {
      sawBackpressure = true;
    });
    const writer = createParquetWriter(slow, { tokensOf: simpleTokenLines, rowGroupRows: 1 });
    const records = Array.from({ length: 6 }, (_, i) => fullRecord(i));
    for (const r of records) {
      await writer.write(r);
      assert.equal(slow.writableNeedDrain, false, 'write() resolved while the destination was over its mark');
    }
    await writer.end();
    slow.end();
    await once(slow, 'finish');
    assert.ok(sawBackpressure, 'the destination never pushed back: the test proves nothing');
    const fast = await writeFile(records, { rowGroupRows: 1 });
    assert.deepStrictEqual(Buffer.concat(chunks), readFileSync(fast));
  });

  it('a destination that fails makes the export fail', async () => {
    const broken = new Writable({
      write(_chunk, _enc, done) {
        done(new Error('disk full'));
      },
    });
    broken.on('error', () => {});
    const writer = createParquetWriter(broken, { tokensOf: simpleTokenLines, rowGroupRows: 1 });
    await assert.rejects(async () => {
      for (let i = 0; i < 4; i++) await writer.write(fullRecord(i));
      await writer.end();
    }, /disk full/);
  });

  it('a destination closed while full (a client that went away) stops the export instead of hanging', async () => {
    // Never calls back: the destination fills up and stays full, as a stalled socket does.
    const stalled = new Writable({ highWaterMark: 1024, write: () => {} });
    const writer = createParquetWriter(stalled, { tokensOf: simpleTokenLines, rowGroupRows: 1 });
    const pending = (async () => {
      for (let i = 0; i < 4; i++) await writer.write(fullRecord(i));
    })();
    // A group is written once the next one is full and its pages are compressed (off the main
    // thread): wait until the destination has filled up.
    for (let i = 0; i < 1000 && !stalled.writableNeedDrain; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(stalled.writableNeedDrain, 'the destination is full: the writer is waiting on it');
    stalled.destroy();
    await assert.rejects(pending, /closed before the end/);
  });

  it('a token id beyond INT32 fails the export instead of wrapping around', async () => {
    const record = fullRecord(7);
    record.conversations[0]!.calls[0]!.completion_token_ids = [1, 2 ** 31];
    const out = new Writable({ write: (_c, _e, done) => done() });
    const writer = createParquetWriter(out, { tokensOf: () => [] });
    // Checked as the record is shredded, so the record that holds it is the one that fails.
    await assert.rejects(writer.write(record), /completion_token_ids.*not an int32: 2147483648/);
  });

  it('levels encode as RLE / bit-packed runs that hyparquet decodes back exactly', () => {
    const cases: [number[], number][] = [
      [[], 1],
      [[1], 1],
      [Array(100_000).fill(3), 2],
      [[0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4], 3],
      // runs of 7 (packed), 8 (a run), a packed stretch that is not a multiple of 8, a long run
      [[...Array(7).fill(2), ...Array(8).fill(1), 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, ...Array(300).fill(3)], 2],
      [Array.from({ length: 1000 }, (_, i) => (i * 7919) % 6), 3],
      // long runs (scanned a word at a time) ending at every offset modulo 4, between short ones
      [
        [1, ...Array(101).fill(2), 3, ...Array(66).fill(1), ...Array(35).fill(2), 0, ...Array(203).fill(3)],
        2,
      ],
    ];
    for (const [levels, width] of cases) {
      // At every alignment: pages are subarrays of a row group's levels, starting anywhere.
      for (const shift of [0, 1, 2, 3]) {
        const padded = new Uint8Array(levels.length + shift);
        padded.set(levels, shift);
        const decoded = decodeLevels(padded.subarray(shift), width);
        assert.deepStrictEqual(decoded, levels, `${levels.length} levels at width ${width}, offset ${shift}`);
      }
    }
    // A long run is one header and one value, not a byte per level.
    const run = new GrowableBytes();
    assert.ok(writeLevels(run, new Uint8Array(100_000).fill(3), 2) <= 4);
    const unaligned = new Uint8Array(100_003).fill(3).subarray(3);
    assert.ok(writeLevels(new GrowableBytes(), unaligned, 2) <= 4);
  });

  /** Encodes levels (after a byte already in the buffer, which must stay) and decodes them back. */
  function decodeLevels(levels: Uint8Array, width: number): number[] {
    const out = new GrowableBytes();
    out.push(0xee);
    const written = writeLevels(out, levels, width);
    assert.equal(written, out.length - 1);
    assert.equal(out.bytes[0], 0xee);
    const bytes = out.bytes.subarray(1, out.length);
    const decoded = new Array<number>(levels.length);
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.length), offset: 0 };
    readRleBitPackedHybrid(reader, width, decoded, bytes.length);
    assert.equal(reader.offset, bytes.length, 'every byte written is read');
    return decoded;
  }

  it('timestamps keep PostgreSQL microseconds, whatever the offset or the number of digits', () => {
    assert.equal(isoToMicros('2026-03-01T10:00:00.123456Z'), 1772359200123456n);
    assert.equal(isoToMicros('2026-03-01T10:00:00.1Z'), 1772359200100000n);
    assert.equal(isoToMicros('2026-03-01T10:00:00Z'), 1772359200000000n);
    assert.equal(isoToMicros('2026-03-01T12:00:00.000007+02:00'), 1772359200000007n);
    assert.throws(() => isoToMicros('yesterday'), /not an ISO timestamp/);
  });
});
