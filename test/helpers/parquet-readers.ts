/**
 * Two independent readers of a Parquet export, DuckDB and hyparquet, each turning the file's
 * rows back into the JSONL view of a trajectory record (plus its `tokens` column), so a test
 * can compare them with the records written. Timestamps come back as ISO strings with exactly
 * six fractional digits (see microIso), token ids and other INT64s as numbers, JSON text parsed.
 */

import { brotliDecompressSync } from 'node:zlib';
import {
  type DuckDBConnection,
  DuckDBInstance,
  DuckDBListValue,
  DuckDBStructValue,
  DuckDBTimestampTZValue,
  type DuckDBValue,
} from '@duckdb/node-api';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';

export type View = Record<string, unknown>;

/** An ISO instant written with six fractional digits, for comparing at microsecond precision. */
export function microIso(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(iso);
  if (!m) throw new Error(`not a UTC ISO instant: ${iso}`);
  return `${m[1]}.${(m[2] ?? '').padEnd(6, '0')}Z`;
}

function isoFromMicros(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  const fraction = String(micros % 1_000_000n).padStart(6, '0');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}

/**
 * The record's free-form fields, stored as JSON text, by where they sit (a call's `error` is a
 * plain string, the record's is JSON). DuckDB reads them as VARCHAR; hyparquet parses them itself.
 */
const JSON_FIELDS: Record<string, string[]> = {
  row: ['error', 'labels', 'agent_config', 'results', 'result'],
  reward_history: ['details'],
  steps: ['context'],
  messages: ['content', 'tool_calls'],
  calls: ['request', 'finish_reasons', 'usage'],
};

function plainDuck(value: DuckDBValue, where: string): unknown {
  if (value instanceof DuckDBListValue) return value.items.map((item) => plainDuck(item, where));
  if (value instanceof DuckDBStructValue) return plainStruct(value.entries, where);
  if (value instanceof DuckDBTimestampTZValue) return isoFromMicros(value.micros);
  if (typeof value === 'bigint') return Number(value);
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value;
  throw new Error(`unexpected DuckDB value in ${where}: ${String(value)}`);
}

function plainStruct(entries: Readonly<Record<string, DuckDBValue>>, where: string): View {
  const out: View = {};
  for (const [key, value] of Object.entries(entries)) {
    const plain = plainDuck(value, key);
    out[key] = JSON_FIELDS[where]?.includes(key) && typeof plain === 'string' ? JSON.parse(plain) : plain;
  }
  return out;
}

export async function withDuckDb<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Every row, in file order, through DuckDB's own Parquet reader. */
export function readWithDuckDb(path: string): Promise<View[]> {
  return withDuckDb(async (conn) => {
    const reader = await conn.runAndReadAll(
      `SELECT * EXCLUDE (file_row_number) FROM read_parquet(${sqlString(path)}, file_row_number = true)
       ORDER BY file_row_number`,
    );
    return reader.getRowObjects().map((row) => plainStruct(row, 'row'));
  });
}

/** Scalar query results as plain JS (numbers for counts). */
export function queryDuckDb(sql: string): Promise<View[]> {
  return withDuckDb(async (conn) => {
    const reader = await conn.runAndReadAll(sql);
    return reader.getRowObjects().map((row) => plainStruct(row, ''));
  });
}

export const parquetPath = sqlString;

/** hyparquet leaves a null list nested in a struct undefined; DuckDB and the JSONL say null. */
function plainJs(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plainJs);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainJs(v)]));
  }
  return value;
}

/** Every row through hyparquet, the JS reader, with microsecond timestamps kept exact. */
export async function readWithHyparquet(path: string): Promise<View[]> {
  const file = await asyncBufferFromFile(path);
  const rows = await parquetReadObjects({
    file,
    parsers: { timestampFromMicroseconds: (micros: bigint) => isoFromMicros(micros) },
    // hyparquet decodes snappy only; the export's BROTLI comes from node:zlib, as it was written.
    compressors: { BROTLI: (input: Uint8Array) => new Uint8Array(brotliDecompressSync(input)) },
  });
  return rows.map((row) => plainJs(row) as View);
}
